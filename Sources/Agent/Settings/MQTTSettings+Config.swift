import Configuration
import Foundation
import MQTTBridge

extension MQTTSettings {
    /// The settings of the agent's `mqtt:` configuration section (already validated by
    /// `Configuration`): `client_id` null becomes `acoustic-edge-<hostName>`, TLS applies
    /// only with `tls.enabled`, `password_file` wins over `password_env`, the spool is
    /// `spool.dir` bounded to `spool.max_bytes` with a `spool.memory_bytes` memory reserve and
    /// its backlog paced to `spool.drain_rate`; `message_expiry` is the tensors' expiry.
    init(config: MQTTConfig, hostName: String = ProcessInfo.processInfo.hostName) {
        self.init()
        host = config.host
        port = config.port
        clientID = config.clientID ?? "acoustic-edge-\(hostName)"
        keepalive = config.keepalive
        username = config.username
        if let file = config.passwordFile {
            password = .file(file)
        } else if let variable = config.passwordEnv {
            password = .environment(variable)
        }
        if config.tls.enabled {
            tls = TLS(caFile: config.tls.caFile, certificateFile: config.tls.certFile,
                      keyFile: config.tls.keyFile, insecure: config.tls.insecure)
        }
        qos = config.qos
        topicPrefix = config.topicPrefix
        spoolDirectory = config.spool.dir
        spoolLimitBytes = config.spool.maxBytes
        spoolMemoryLimitBytes = config.spool.memoryBytes
        drainRate = config.spool.drainRate
        messageExpiry = config.messageExpiry
    }
}
