import ReferenceHarness
import XCTest
@testable import Control

final class CommandParserTests: XCTestCase {
    private func parse(_ text: String) -> Result<CommandRequest, CommandRefusal> {
        CommandParser.parse(Array(text.utf8))
    }

    func testAcceptedCommands() throws {
        XCTAssertEqual(try parse(#"{"command":"start","id":"a1"}"#).get(), CommandRequest(command: .start, id: "a1"))
        XCTAssertEqual(try parse(#"{"command":"stop"}"#).get(), CommandRequest(command: .stop, id: nil))
        XCTAssertEqual(try parse(#" {"id":"x","command":"status","extra":[1,2]} "#).get().command, .status)
        XCTAssertEqual(try parse(#"{"command":"calibrate","seconds":12.5,"id":"c"}"#).get().command,
                       .calibrate(seconds: 12.5))
        XCTAssertEqual(try parse(#"{"command":"calibrate"}"#).get().command, .calibrate(seconds: nil))
        XCTAssertEqual(try parse(#"{"command":"reload","id":null}"#).get().command, .reload)
    }

    func testRefusalsSayWhyAndKeepTheID() {
        let cases: [(String, String?, String)] = [
            ("not json", nil, "malformed JSON"),
            ("", nil, "malformed JSON"),
            (#"["start"]"#, nil, "a command is a JSON object"),
            (#"{"id":"q"}"#, "q", "missing \"command\""),
            (#"{"command":1,"id":"q"}"#, "q", "\"command\" must be a string"),
            (#"{"command":"explode","id":"q"}"#, "q", "unknown command \"explode\""),
            (#"{"command":"start","id":7}"#, nil, "\"id\" must be a string"),
            (#"{"command":"calibrate","seconds":"10","id":"q"}"#, "q", "\"seconds\" must be a number"),
            (#"{"command":"calibrate","seconds":true,"id":"q"}"#, "q", "\"seconds\" must be a number"),
            (#"{"command":"calibrate","seconds":-1,"id":"q"}"#, "q", "\"seconds\" must be in (0, 3600]"),
            (#"{"command":"calibrate","seconds":1e9,"id":"q"}"#, "q", "\"seconds\" must be in (0, 3600]"),
        ]
        for (text, id, reason) in cases {
            guard case .failure(let refusal) = parse(text) else { XCTFail("accepted: \(text)"); continue }
            XCTAssertEqual(refusal.reason, reason, text)
            XCTAssertEqual(refusal.id, id, text)
        }
        let big = #"{"command":"start","pad":""# + String(repeating: "x", count: 20_000) + #""}"#
        guard case .failure(let refusal) = parse(big) else { return XCTFail("accepted a huge payload") }
        XCTAssertTrue(refusal.reason.contains("larger than"))
    }

    func testReplyJSON() {
        let ok = CommandReply(id: "a1", command: "status", ok: true, result: ["state": .string("running"), "ok": .bool(false)])
        XCTAssertEqual(ok.json, #"{"command":"status","id":"a1","ok":true,"state":"running"}"#)
        let refused = CommandReply(refusal: CommandRefusal(id: nil, command: nil, reason: "malformed JSON"))
        XCTAssertEqual(refused.json, #"{"error":"malformed JSON","id":null,"ok":false}"#)
    }

    /// Thousands of random and mutated payloads: the parser answers every one (a typed
    /// command or a refusal) and never crashes; whatever it accepts re-parses the same.
    func testFuzzRandomAndMutatedPayloads() {
        var rng = SplitMix64(seed: 0x5eed)
        let seeds = [
            #"{"command":"start","id":"a"}"#, #"{"command":"calibrate","seconds":10,"id":"b"}"#,
            #"{"command":"status"}"#, #"{"command":"stop","id":"c","x":{"y":[1,2,{"z":null}]}}"#,
            #"{"command":"reload","id":"\u00e9\ud83d\ude00"}"#,
        ].map { Array($0.utf8) }
        let alphabet = Array(#"{}[]",:0123456789.eE+-truefalsnl\"\\ abcdxyz"#.utf8) + [0, 0xff, 0xc3, 0xa9, 0xed, 0xa0]
        var accepted = 0, refused = 0
        for round in 0..<6000 {
            var payload: [UInt8]
            if round % 3 == 0 {
                let length = Int(rng.next() % 64)
                payload = (0..<length).map { _ in
                    rng.next() % 2 == 0 ? alphabet[Int(rng.next() % UInt64(alphabet.count))] : UInt8(truncatingIfNeeded: rng.next())
                }
            } else {
                payload = seeds[Int(rng.next() % UInt64(seeds.count))]
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let position = payload.isEmpty ? 0 : Int(rng.next() % UInt64(payload.count))
                    switch rng.next() % 4 {
                    case 0 where !payload.isEmpty: payload[position] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    case 1: payload.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
                    case 2 where !payload.isEmpty: payload.remove(at: position)
                    default: payload = Array(payload[..<position]) + Array(payload[position...]) + payload[..<position]
                    }
                }
            }
            switch CommandParser.parse(payload) {
            case .success(let request):
                accepted += 1
                XCTAssertEqual(try CommandParser.parse(payload).get(), request)
            case .failure(let refusal):
                refused += 1
                XCTAssertFalse(refusal.reason.isEmpty)
                XCTAssertFalse(refusal.reason.contains("\n"))
            }
        }
        // Deep nesting must be refused, not overflow the stack.
        for depth in [100, 10_000, 15_000] {
            let deep = Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
            if case .success = CommandParser.parse(deep) { XCTFail("nested array accepted") }
            let object = Array((String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)).utf8)
            if case .success = CommandParser.parse(object) { XCTFail("nested object accepted") }
        }
        XCTAssertGreaterThan(accepted, 50, "mutations keep some payloads valid")
        XCTAssertGreaterThan(refused, 3000)
    }

    func testControlStateMachine() {
        var machine = ControlStateMachine()
        XCTAssertEqual(try machine.apply(.start).get(), ControlStateMachine.Effect.none)
        XCTAssertEqual(try machine.apply(.stop).get(), .pauseCapture)
        XCTAssertEqual(machine.state, .stopped)
        XCTAssertEqual(try machine.apply(.calibrate(seconds: 5)).get(), .calibrate(seconds: 5))
        guard case .failure(let refusal) = machine.apply(.start) else { return XCTFail("start during calibration") }
        XCTAssertEqual(refusal.reason, "calibration in progress")
        XCTAssertEqual(try machine.apply(.status).get(), .reportStatus)
        machine.calibrationEnded()
        XCTAssertEqual(machine.state, .stopped)
        XCTAssertEqual(try machine.apply(.start).get(), .resumeCapture)
        XCTAssertEqual(machine.state, .running)
    }
}

