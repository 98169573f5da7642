import XCTest
@testable import MQTTBridge

final class BackoffTests: XCTestCase {
    func testDoublesUpToTheCapAndNeverStops() {
        var backoff = Backoff(initial: 0.5, maximum: 5)
        let delays = (0..<8).map { _ in backoff.next() }
        XCTAssertEqual(delays, [0.5, 1, 2, 4, 5, 5, 5, 5])
        XCTAssertEqual(backoff.failures, 8)
        backoff.reset()
        XCTAssertEqual(backoff.next(), 0.5)
    }
}
