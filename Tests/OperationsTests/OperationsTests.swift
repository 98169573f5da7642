import Foundation
import Logging
import Metrics
import Operations
import Prometheus
import ReferenceHarness
import ServiceLifecycle
import XCTest

final class OperationsTests: XCTestCase {
    /// A real HTTP client (Python's urllib) scrapes the endpoint while a service group runs it.
    func testMetricsEndpointServesPrometheusText() async throws {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        let counter = factory.makeCounter(label: "acoustic_edge_segments_total", dimensions: [])
        counter.increment(by: 7)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let endpoint = MetricsEndpoint(registry: registry, host: "127.0.0.1", port: 0,
                                       logger: Logger(label: "test")) { continuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [endpoint], logger: Logger(label: "test")))
        let runner = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let next = await iterator.next()
        let port = try XCTUnwrap(next)
        let script = """
            import sys, urllib.request, urllib.error
            body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics").read().decode()
            print(body)
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/other")
            except urllib.error.HTTPError as e:
                print("status", e.code)
            """
        let output = try ReferenceHarness.run(ReferenceHarness.pythonPath, ["-c", script, String(port)])
        XCTAssertTrue(output.contains("# TYPE acoustic_edge_segments_total counter"), output)
        XCTAssertTrue(output.contains("acoustic_edge_segments_total 7"), output)
        XCTAssertTrue(output.contains("status 404"), output)
        await group.triggerGracefulShutdown()
        try await runner.value
    }

    /// sd_notify writes its datagrams to the socket named by NOTIFY_SOCKET.
    func testNotifierSpeaksSystemdsProtocol() throws {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "notify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("notify.sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        let notifier = SystemdNotifier()
        unsetenv("NOTIFY_SOCKET")
        XCTAssertFalse(notifier.isActive)
        notifier.ready(status: "ignored")  // no socket: a no-op
        setenv("NOTIFY_SOCKET", path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        XCTAssertTrue(notifier.isActive)
        notifier.ready(status: "capturing 8 mics")
        notifier.watchdog()
        var buffer = [UInt8](repeating: 0, count: 512)
        var messages: [String] = []
        for _ in 0..<2 {
            let n = recv(fd, &buffer, buffer.count, 0)
            XCTAssertGreaterThan(n, 0)
            messages.append(String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self))
        }
        XCTAssertEqual(messages, ["READY=1\nSTATUS=capturing 8 mics", "WATCHDOG=1"])
    }
}
