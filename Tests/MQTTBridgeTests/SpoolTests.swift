import Foundation
import ReferenceHarness
import XCTest
@testable import MQTTBridge

/// The store-and-forward bookkeeping without a broker.
final class SpoolStateTests: XCTestCase {
    func testSendsInOrderWithinTheInFlightLimitAndForgetsOnPuback() {
        var spool = SpoolState(limitBytes: 1000)
        for _ in 0..<5 { XCTAssertTrue(spool.append(bytes: 10).accepted) }
        var mids: [Int32] = []
        while let entry = spool.nextToSend(maxInFlight: 3) {
            spool.markSent(sequence: entry.sequence, mid: Int32(100 + entry.sequence), at: 1)
            mids.append(Int32(100 + entry.sequence))
        }
        XCTAssertEqual(mids, [100, 101, 102], "at most 3 in flight, oldest first")
        XCTAssertEqual(spool.inFlightCount, 3)
        XCTAssertEqual(spool.acknowledge(mid: 101)?.sequence, 1)
        XCTAssertNil(spool.acknowledge(mid: 101), "a PUBACK counts once")
        XCTAssertNil(spool.acknowledge(mid: 7), "ids of status/replies are not ours")
        XCTAssertEqual(spool.nextToSend(maxInFlight: 3)?.sequence, 3)
        XCTAssertEqual(spool.count, 4)
        XCTAssertEqual(spool.totalBytes, 40)
    }

    func testConnectionLossRequeuesUnacknowledgedAheadOfTheRest() {
        var spool = SpoolState(limitBytes: 1000)
        for _ in 0..<6 { _ = spool.append(bytes: 1) }
        for mid in Int32(1)...4 {
            let entry = spool.nextToSend(maxInFlight: 10)!
            spool.markSent(sequence: entry.sequence, mid: mid, at: Double(mid))
        }
        _ = spool.acknowledge(mid: 2)          // sequence 1 delivered
        XCTAssertEqual(spool.oldestSentAt, 1)
        spool.connectionLost()
        XCTAssertEqual(spool.inFlightCount, 0)
        XCTAssertNil(spool.oldestSentAt)
        XCTAssertEqual(spool.sequences, [0, 2, 3, 4, 5], "order kept, delivered one gone")
        var order: [UInt64] = []
        var mid: Int32 = 1   // a new client starts its ids again
        while let entry = spool.nextToSend(maxInFlight: 100) {
            spool.markSent(sequence: entry.sequence, mid: mid, at: 0)
            order.append(entry.sequence)
            mid += 1
        }
        XCTAssertEqual(order, [0, 2, 3, 4, 5])
    }

    func testFullSpoolDropsOldestWaitingFirstAndCounts() {
        var spool = SpoolState(limitBytes: 100)
        for _ in 0..<4 { XCTAssertTrue(spool.append(bytes: 25).dropped.isEmpty) }
        let first = spool.nextToSend(maxInFlight: 1)!
        spool.markSent(sequence: first.sequence, mid: 1, at: 0)    // 0 in flight
        let result = spool.append(bytes: 40)                         // needs 40 more bytes
        XCTAssertTrue(result.accepted)
        XCTAssertEqual(result.dropped, [1, 2], "oldest waiting dropped, the in-flight one kept")
        XCTAssertEqual(spool.droppedCount, 2)
        XCTAssertEqual(spool.sequences, [0, 3, 4])
        XCTAssertLessThanOrEqual(spool.totalBytes, 100)
        let huge = spool.append(bytes: 500)
        XCTAssertFalse(huge.accepted, "larger than the whole spool")
        XCTAssertTrue(huge.dropped.contains(huge.sequence))
        XCTAssertEqual(spool.sequences, [0], "everything waiting went to make room, in vain")
    }

    func testRestoredSpoolKeepsOrderAndContinuesNumbering() {
        let restored = SpoolState.restored(limitBytes: 30,
                                           entries: [(7, 10), (3, 10), (9, 10), (5, 10)])
        XCTAssertEqual(restored.dropped, [3], "over the limit: oldest dropped")
        XCTAssertEqual(restored.state.sequences, [5, 7, 9])
        XCTAssertEqual(restored.state.nextSequence, 10)
        var state = restored.state
        XCTAssertEqual(state.append(bytes: 0).sequence, 10)
    }

    func testLiveEntriesGoFirstAndALostConnectionMovesEverythingToTheBacklogInOrder() {
        var spool = SpoolState(limitBytes: 1000)
        for _ in 0..<3 { _ = spool.append(bytes: 10, live: false) }      // 0, 1, 2: made while away
        for _ in 0..<2 { _ = spool.append(bytes: 10, live: true) }       // 3, 4: live
        XCTAssertEqual(spool.nextToSend(maxInFlight: 5), SpoolState.Entry(sequence: 3, bytes: 10, sentAt: nil, replayed: false))
        spool.markSent(sequence: 3, mid: 1, at: 0)
        XCTAssertEqual(spool.nextToSend(maxInFlight: 5)?.sequence, 4)
        spool.markSent(sequence: 4, mid: 2, at: 0)
        XCTAssertNil(spool.nextToSend(maxInFlight: 5, backlogAllowed: false), "the backlog waits for its pace")
        let backlog = spool.nextToSend(maxInFlight: 5)
        XCTAssertEqual(backlog?.sequence, 0)
        XCTAssertEqual(backlog?.replayed, true)
        spool.markSent(sequence: 0, mid: 3, at: 0)
        _ = spool.append(bytes: 10, live: true)                           // 5
        spool.connectionLost()
        XCTAssertEqual(spool.backlogSequences, [0, 1, 2, 3, 4, 5], "in flight, backlog and live: one backlog, in order")
        XCTAssertEqual(spool.backlogCount, 6)
        // Drops take the oldest waiting, whichever queue it is in.
        var full = SpoolState(limitBytes: 30)
        _ = full.append(bytes: 10, live: true)
        _ = full.append(bytes: 10, live: false)
        _ = full.append(bytes: 10, live: true)
        XCTAssertEqual(full.append(bytes: 10, live: true).dropped, [0])
    }

    func testRandomOperationsKeepInvariants() {
        // Seeded (printed), so a failure can be replayed: AE_SPOOL_SEED=<seed>.
        let seed = UInt64(ProcessInfo.processInfo.environment["AE_SPOOL_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        print("SpoolStateTests.testRandomOperationsKeepInvariants seed \(seed)")
        var generator = SplitMix64(seed: seed)
        var spool = SpoolState(limitBytes: 5000)
        var model: [UInt64: Int] = [:]        // sequence -> bytes, what should be inside
        var mids: [Int32: UInt64] = [:]
        var nextMid: Int32 = 1
        var delivered: [UInt64] = []
        for _ in 0..<20_000 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<4:
                let bytes = Int.random(in: 1...600, using: &generator)
                let result = spool.append(bytes: bytes, live: Bool.random(using: &generator))
                if result.accepted { model[result.sequence] = bytes }
                for dropped in result.dropped { model[dropped] = nil }
            case 4..<7:
                if let entry = spool.nextToSend(maxInFlight: 8, backlogAllowed: Bool.random(using: &generator)) {
                    spool.markSent(sequence: entry.sequence, mid: nextMid, at: 0)
                    mids[nextMid] = entry.sequence
                    nextMid += 1
                }
            case 7..<9:
                if let (mid, sequence) = mids.randomElement(using: &generator) {
                    XCTAssertEqual(spool.acknowledge(mid: mid)?.sequence, sequence)
                    mids[mid] = nil
                    model[sequence] = nil
                    delivered.append(sequence)
                }
            default:
                spool.connectionLost()
                mids.removeAll()
            }
            XCTAssertLessThanOrEqual(spool.totalBytes, 5000)
            XCTAssertLessThanOrEqual(spool.inFlightCount, 8)
            XCTAssertEqual(spool.backlogSequences, spool.backlogSequences.sorted(), "the backlog stays in order (seed \(seed))")
        }
        XCTAssertEqual(Set(spool.sequences), Set(model.keys), "seed \(seed)")
        XCTAssertEqual(spool.totalBytes, model.values.reduce(0, +), "seed \(seed)")
        spool.connectionLost()
        XCTAssertEqual(spool.sequences, spool.sequences.sorted(), "after a loss, delivery order is arrival order")
        XCTAssertFalse(delivered.isEmpty)
    }
}

/// The on-disk spool files.
final class DiskSpoolStoreTests: XCTestCase {
    func testDiskStoreRoundTripAndCrashLeftovers() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try DiskSpoolStore(directory: folder.path)
        let record = SpoolRecord(topic: "plant/mic0/fan", qos: 1,
                                 userProperties: [("mic", "0"), ("source", "fan"), ("mic", "dup")],
                                 contentType: "application/x-pytorch", payload: Array(0...255))
        XCTAssertGreaterThan(try store.write(record, sequence: 42).bytes, 256)
        try Data("half".utf8).write(to: folder.appendingPathComponent("00000000000000000043.msg.tmp"))
        try Data("junk".utf8).write(to: folder.appendingPathComponent("00000000000000000044.msg"))
        let reopened = try DiskSpoolStore(directory: folder.path)
        XCTAssertEqual(reopened.existing().map(\.sequence).sorted(), [42, 44], "the .tmp of a crash is gone")
        let back = try reopened.read(sequence: 42)
        XCTAssertEqual(back.topic, record.topic)
        XCTAssertEqual(back.payload, record.payload)
        XCTAssertEqual(back.contentType, record.contentType)
        XCTAssertEqual(back.userProperties.map { "\($0.name)=\($0.value)" }, ["mic=0", "source=fan", "mic=dup"])
        XCTAssertThrowsError(try reopened.read(sequence: 44)) {
            XCTAssertTrue("\($0)".contains("is not a spool file"))
        }
    }

    /// A disk that refuses writes (its folder removed here; a full tmpfs with a real broker in
    /// SpoolDiskFullTests): messages go to the memory reserve within its bound, are read from
    /// there, and beyond it the write throws with the system's reason.
    func testADiskThatRefusesWritesFallsBackToTheMemoryReserve() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let record = SpoolRecord(topic: "plant/mic0/fan", qos: 1, userProperties: [], contentType: nil,
                                 payload: [UInt8](repeating: 7, count: 1000), madeAt: 5)
        let store = try DiskSpoolStore(directory: folder.path, memoryLimitBytes: 2 * record.size)
        XCTAssertNil(try store.write(record, sequence: 0).diskError)
        try FileManager.default.removeItem(at: folder)                     // the disk "goes"
        let kept = try store.write(record, sequence: 1)
        XCTAssertEqual(kept.diskError?.hasPrefix("mqtt spool: cannot write \(folder.path)/00000000000000000001.msg: No such file or directory"), true,
                       kept.diskError ?? "")
        XCTAssertEqual(kept.bytes, record.size)
        _ = try store.write(record, sequence: 2)
        XCTAssertEqual(store.heldInMemory, 2)
        XCTAssertThrowsError(try store.write(record, sequence: 3), "the reserve is full") {
            XCTAssertTrue("\($0)".contains("No such file or directory"), "\($0)")
        }
        XCTAssertEqual(try store.read(sequence: 1).payload, record.payload)
        XCTAssertEqual(try store.read(sequence: 1).madeAt, 5)
        store.delete(sequence: 1)
        XCTAssertEqual(store.heldInMemory, 1)
        XCTAssertNoThrow(try store.write(record, sequence: 4), "room again")
    }
}
