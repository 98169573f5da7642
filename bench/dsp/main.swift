// dsp-bench: the denoise and mel stages of acoustic-edge against noisereduce and torchaudio,
// timed side by side on the same 10-s, 16 kHz channels, 1 and 2 threads each side.
//
//   swift run -c release dsp-bench [--channels 8] [--repeats 5]
//
// Not a test: it prints seconds per channel and the speed-up ratios (goal: denoise >= 30x
// noisereduce, mel >= 4x torchaudio, 2 threads each side). AE_PYTHON selects the Python.
import DSP
import Dispatch
import Foundation

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count, let v = Int(arguments[i + 1]) else {
        return fallback
    }
    return v
}
let channels = option("--channels", 8)
let repeats = option("--repeats", 5)
// Profiling aids (`perf record` on our side only): `--only NAME` times one stage
// (denoise_stationary, denoise_nonstationary, mel); `--no-reference` skips the Python side.
let onlyStage: String? = arguments.firstIndex(of: "--only").flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
let skipReference = arguments.contains("--no-reference")
let rate = 16_000
let length = 10 * rate

// Machine-like channels: tones in bursts over coloured noise; a separate noise clip.
struct Generator {
    var state: UInt64
    mutating func normal() -> Double {
        func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        let u = max(next(), 1e-300), v = next()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}
func noise(_ count: Int, seed: UInt64) -> [Float] {
    var g = Generator(state: seed)
    var lp = 0.0
    return (0..<count).map { _ in
        let w = g.normal()
        lp = 0.95 * lp + 0.05 * w
        return Float(0.05 * (0.6 * w + 2 * lp))
    }
}
let signal: [[Float]] = (0..<channels).map { c in
    let bg = noise(length, seed: 100 + UInt64(c))
    let f0 = 110.0 * (1 + 0.13 * Double(c))
    return (0..<length).map { n in
        let t = Double(n) / Double(rate)
        let env = 0.5 - 0.5 * cos(2 * Double.pi * min(t.truncatingRemainder(dividingBy: 0.8) / 0.35, 1))
        let s = 0.3 * sin(2 * .pi * f0 * t) + 0.15 * sin(4 * .pi * f0 * t) + 0.05 * sin(2 * .pi * 1234.5 * t)
        return bg[n] + Float(env * s)
    }
}
let noiseClip = noise(5 * rate, seed: 7)

func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Best wall time of `repeats` runs of `body(channel)` over all channels on `threads` threads,
/// per channel; and the best process CPU time per channel (robust on a loaded machine).
func timePerChannel(threads: Int, _ body: @escaping @Sendable (Int, Int) -> Void) -> (wall: Double, cpu: Double) {
    var best = Double.infinity
    var bestCPU = Double.infinity
    for _ in 0..<(repeats + 1) {  // the first run warms up
        let cpuStart = processCPUSeconds()
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            var c = worker
            while c < channels {
                body(worker, c)
                c += threads
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        best = min(best, seconds)
        bestCPU = min(bestCPU, processCPUSeconds() - cpuStart)
    }
    return (best / Double(channels), bestCPU / Double(channels))
}

final class Workspaces<W>: @unchecked Sendable {
    // @unchecked: worker i only ever touches items[i].
    var items: [W]
    init(_ make: () -> W) { items = (0..<2).map { _ in make() } }
}

let planningStart = DispatchTime.now().uptimeNanoseconds
let stationary = try SpectralGate(parameters: SpectralGateParameters(stationary: true), sampleRate: rate,
                                  noiseProfile: noiseClip)
let nonStationary = try SpectralGate(parameters: SpectralGateParameters(stationary: false), sampleRate: rate)
let logMel = LogMel(sampleRate: rate)
let planningMs = Double(DispatchTime.now().uptimeNanoseconds - planningStart) / 1e6
let input = signal

var ours: [String: Double] = [:]
for threads in [1, 2] {
    let gateSpaces = Workspaces { SpectralGateWorkspace() }
    let melSpaces = Workspaces { LogMelWorkspace() }
    let stages: [(String, @Sendable (Int, Int) -> Void)] = [
        ("denoise_stationary", { w, c in _ = stationary.process(input[c], workspace: gateSpaces.items[w]) }),
        ("denoise_nonstationary", { w, c in _ = nonStationary.process(input[c], workspace: gateSpaces.items[w]) }),
        ("mel", { w, c in _ = try? logMel.compute(input[c], workspace: melSpaces.items[w]) }),
    ]
    for (name, body) in stages where onlyStage == nil || onlyStage == name {
        let t = timePerChannel(threads: threads, body)
        ours["\(name)_\(threads)"] = t.wall
        ours["\(name)_cpu_\(threads)"] = t.cpu
    }
}

if skipReference {
    for (key, value) in ours.sorted(by: { $0.key < $1.key }) {
        print(key, String(format: "%.3f ms", value * 1000))
    }
    exit(0)
}

// The references, on the same samples.
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dsp-bench-\(getpid())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: folder) }
func writeRaw(_ values: [Float], _ name: String) throws -> String {
    let url = folder.appendingPathComponent(name)
    try values.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: url)
    return url.path
}
let signalPath = try writeRaw(signal.flatMap { $0 }, "signal.f32")
let noisePath = try writeRaw(noiseClip, "noise.f32")
let benchFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
let python = ProcessInfo.processInfo.environment["AE_PYTHON"]
    ?? benchFolder.appendingPathComponent("../../.venv/bin/python").standardized.path
guard FileManager.default.isExecutableFile(atPath: python) else {
    FileHandle.standardError.write("dsp-bench: no Python at \(python) (set AE_PYTHON to the project's venv)\n".data(using: .utf8)!)
    exit(1)
}
let process = Process()
process.executableURL = URL(fileURLWithPath: python)
process.arguments = [benchFolder.appendingPathComponent("reference_bench.py").path, signalPath, noisePath,
                     String(channels), String(rate), String(repeats)]
let pipe = Pipe()
process.standardOutput = pipe
try process.run()
let output = pipe.fileHandleForReading.readDataToEndOfFile()
process.waitUntilExit()
guard process.terminationStatus == 0,
      let reference = try JSONSerialization.jsonObject(with: output) as? [String: Double] else {
    FileHandle.standardError.write("dsp-bench: the reference benchmark failed\n".data(using: .utf8)!)
    exit(1)
}

let env = ProcessInfo.processInfo.environment
print("dsp-bench: \(channels) channels of 10 s at 16 kHz, best of \(repeats); ms per channel")
print("setting up the stages (FFTW_MEASURE plans, noise statistics): \(String(format: "%.0f", planningMs)) ms, once")
print("wall = elapsed time / channels (the goal's measure); cpu = process CPU time / channels")
print("OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "-") OPENBLAS_L2_SIZE=\(env["OPENBLAS_L2_SIZE"] ?? "-")")
func row(_ label: String, _ key: String, _ goal: Double?, ours: [String: Double], reference: [String: Double]) {
    for threads in [1, 2] {
        let k = "\(key)_\(threads)", kc = "\(key)_cpu_\(threads)"
        guard let a = ours[k], let r = reference[k], let ac = ours[kc], let rc = reference[kc] else { continue }
        let ratio = r / a
        var line = "\(label) \(threads) thread\(threads == 1 ? " " : "s"): wall "
            + String(format: "%7.3f", a * 1000) + " vs " + String(format: "%8.3f", r * 1000)
            + " = " + String(format: "%6.1fx", ratio)
            + " | cpu " + String(format: "%7.3f", ac * 1000) + " vs " + String(format: "%8.3f", rc * 1000)
            + " = " + String(format: "%6.1fx", rc / ac)
        if let goal, threads == 2 { line += ratio >= goal ? "  (goal \(Int(goal))x: met)" : "  (goal \(Int(goal))x: MISSED)" }
        print(line)
    }
}
row("denoise stationary    ", "denoise_stationary", 30, ours: ours, reference: reference)
row("denoise non-stationary", "denoise_nonstationary", 30, ours: ours, reference: reference)
row("mel                   ", "mel", 4, ours: ours, reference: reference)
