import Dispatch
import DSP
import Foundation
import ReferenceHarness
import XCTest

/// One `SpectralGate` / `LogMel` shared by two threads (a workspace each), as the pipeline uses
/// them: the results equal the single-threaded ones bit for bit.
final class ConcurrencyTests: XCTestCase {
    final class Results: @unchecked Sendable {
        // @unchecked: every access goes through the lock.
        private let lock = NSLock()
        private var slots: [[Float]] = Array(repeating: [], count: 8)
        func store(_ value: [Float], _ index: Int) { lock.withLock { slots[index] = value } }
        var denoised: [[Float]] { lock.withLock { Array(slots[0..<4]) } }
        var mels: [[Float]] { lock.withLock { Array(slots[4..<8]) } }
    }

    func testTwoThreadsShareOneStage() throws {
        let rate = 16_000
        let channels = (0..<4).map { TestSignals.machine(count: rate * 2 + 5, rate: rate, seed: 500 + UInt64($0), channel: $0) }
        let gate = try SpectralGate(sampleRate: rate, noiseProfile: TestSignals.noise(count: rate, seed: 9))
        let mel = LogMel(sampleRate: rate)
        let serialGate = channels.map { gate.process($0) }
        let serialMel = try channels.map { try mel.compute($0) }
        let results = Results()
        for _ in 0..<3 {
            DispatchQueue.concurrentPerform(iterations: 2) { worker in
                let gateSpace = SpectralGateWorkspace()
                let melSpace = LogMelWorkspace()
                for c in stride(from: worker, to: channels.count, by: 2) {
                    results.store(gate.process(channels[c], workspace: gateSpace), c)
                    results.store((try? mel.compute(channels[c], workspace: melSpace)) ?? [], 4 + c)
                }
            }
            XCTAssertEqual(results.denoised, serialGate)
            XCTAssertEqual(results.mels, serialMel)
        }
        // A workspace reused for inputs of other lengths still gives the fresh result.
        let workspace = SpectralGateWorkspace()
        _ = gate.process(channels[0], workspace: workspace)
        let shorter = Array(channels[1].prefix(20_011))
        XCTAssertEqual(gate.process(shorter, workspace: workspace), gate.process(shorter))
    }
}
