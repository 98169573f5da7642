import Logging
import MQTTBridge
import ServiceLifecycle

/// The MQTT bridge as a `Service`: started with the group (it connects and resumes its spool
/// on its own thread), it hands the commands that arrive on `{prefix}/cmd` to the agent's
/// command inbox, each answered on the route it came by. The inbox needs no bound of its own
/// for this channel: the bridge hands over at most `commandLimit` unanswered commands and
/// answers the rest `busy` itself (a start/stop waits in one slot: `CommandGate`), so each
/// reply, `calibrate`'s late one included, frees room for the next command. On graceful shutdown, which reaches
/// it after the agent's service has finished the segment in flight, it flushes the spool within
/// `flushBudget` seconds and disconnects, so the broker publishes the retained
/// `{"state":"offline"}`.
struct BridgeService: Service {
    let publisher: TensorPublisher
    let inbox: AsyncStream<PendingCommand>.Continuation
    let flushBudget: Double
    let logger: Logger

    func run() async throws {
        let bridge = publisher.bridge
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await command in bridge.commands {
                    inbox.yield(PendingCommand(request: command.request, answer: { bridge.reply(to: command, $0) }))
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
            let stats = await publisher.finish(within: flushBudget)
            logger.info("mqtt bridge stopped", metadata: [
                "delivered": "\(stats.delivered)", "spooled": "\(stats.spooledMessages)", "dropped": "\(stats.dropped)",
            ])
        }
    }
}
