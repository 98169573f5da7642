import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The Prometheus scrape endpoint: `GET /metrics` on `host:port` answers the registry's
/// text exposition format; every other path is 404. A `Service`: it runs until the service
/// group shuts down, then closes its socket.
public struct MetricsEndpoint: Service {
    /// The registry whose metrics are exposed (swift-metrics' factory writes into it).
    public let registry: PrometheusCollectorRegistry
    /// The address to bind.
    public let host: String
    /// The TCP port; 0 picks a free one (see `onBound`).
    public let port: Int
    /// Called with the bound port once listening (useful with port 0).
    public let onBound: @Sendable (Int) -> Void
    private let logger: Logger

    /// An endpoint exposing `registry` on `host:port`.
    public init(registry: PrometheusCollectorRegistry, host: String = "0.0.0.0", port: Int,
                logger: Logger, onBound: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.registry = registry
        self.host = host
        self.port = port
        self.logger = logger
        self.onBound = onBound
    }

    public func run() async throws {
        let registry = self.registry
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(ScrapeHandler(registry: registry))
                }
            }
            .bind(host: host, port: port).get()
        let bound = channel.localAddress?.port ?? port
        logger.info("metrics endpoint listening", metadata: ["address": "\(host):\(bound)"])
        onBound(bound)
        // Run until the service group asks us to stop, then close the listening socket.
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// Answers one HTTP request per message: `/metrics` with the registry's text, else 404.
private final class ScrapeHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: NIO calls a handler only on its channel's event loop; `path` is touched there alone.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var path = ""

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        case .body:
            break
        case .end:
            let found = path == "/metrics"
            var bytes: [UInt8] = []
            if found { registry.emit(into: &bytes) } else { bytes = Array("not found; try /metrics\n".utf8) }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
            headers.add(name: "Content-Length", value: String(bytes.count))
            headers.add(name: "Connection", value: "close")
            let head = HTTPResponseHead(version: .http1_1, status: found ? .ok : .notFound, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
            let channel = context.channel  // Sendable, unlike the context
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
