// separator-bench: times SourceSeparator on one model (see bench/separator/README.md).
// usage: SeparatorBench MODEL [--batches 1,8] [--iterations N] [--threads N]
// Prints one JSON object per line: the SGEMM peak measured here, then per batch size the
// seconds per pass (best of N after one warm-up pass) and per channel.
import COpenBLAS
import Separator
#if canImport(Glibc)
import Glibc
#endif

/// Process CPU time (user + system) in seconds: steadier than wall time on a shared machine.
func cpuTime() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard let modelPath = arguments.first else {
    print("usage: SeparatorBench MODEL [--batches 1,8] [--iterations N] [--threads N]")
    exit(2)
}
var batches = [1, 8]
var iterations = 3
var threads = 0  // one per core
if let i = arguments.firstIndex(of: "--batches"), i + 1 < arguments.count {
    batches = arguments[i + 1].split(separator: ",").compactMap { Int($0) }
}
if let i = arguments.firstIndex(of: "--iterations"), i + 1 < arguments.count {
    iterations = Int(arguments[i + 1]) ?? 3
}
if let i = arguments.firstIndex(of: "--threads"), i + 1 < arguments.count {
    threads = Int(arguments[i + 1]) ?? 0
}

// SGEMM peak on this machine with this OpenBLAS setting (square 2048 matrices), on as many
// threads as the separator (OpenBLAS's own threads here; the separator runs it single-threaded
// in its workers afterwards).
do {
    if threads > 0 { openblas_set_num_threads(Int32(threads)) }
    let n = 2048
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    var best = Double.infinity
    for _ in 0..<4 {
        let t0 = now()
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &c, Int32(n))
        best = min(best, now() - t0)
    }
    print("{\"sgemm_gflops\": \(2 * Double(n * n * n) / best / 1e9)}")
}

do {
    let t0 = now()
    let separator = try SourceSeparator(modelPath: modelPath, maxBatch: batches.max() ?? 1, threads: threads)
    print("{\"load_seconds\": \(now() - t0), \"segment\": \(separator.segmentLength)}")
    var seed: UInt64 = 1
    func noise() -> Float {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: seed >> 11) % 2000 - 1000) / 10000
    }
    for batch in batches {
        let channels = (0..<batch).map { _ in (0..<separator.segmentLength).map { _ in noise() } }
        let first = now()
        _ = try separator.separate(channels: channels)  // warm-up: plans and workspace
        let firstSeconds = now() - first
        var best = Double.infinity, bestCPU = Double.infinity
        for _ in 0..<iterations {
            let t = now(), c = cpuTime()
            _ = try separator.separate(channels: channels)
            best = min(best, now() - t)
            bestCPU = min(bestCPU, cpuTime() - c)
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        print("{\"batch\": \(batch), \"seconds\": \(best), \"first_call_seconds\": \(firstSeconds), \"seconds_per_channel\": \(best / Double(batch)), "
              + "\"cpu_seconds_per_channel\": \(bestCPU / Double(batch)), "
              + "\"workspace_mb\": \(separator.workspaceBytes / 1_000_000), \"peak_live_mb\": \(separator.peakActivationBytes / 1_000_000), \"max_rss_mb\": \(usage.ru_maxrss / 1000)}")
    }
} catch {
    print("error: \(error)")
    exit(1)
}
