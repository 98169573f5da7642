/// A message for the broker: a tensor (or any payload) with its MQTT v5 properties.
///
/// The bridge only moves bytes: the payload is already encoded (`.pt`, safetensors, npy)
/// by the caller, and the user properties carry the facts a consumer needs without
/// decoding it (`mic`, `source`, `segment_start`, `segment_index`, `sample_rate`, `model`).
public struct OutgoingMessage: Sendable {
    /// Topic name, e.g. `plant/mic0/fan` (see ``MQTTSettings/tensorTopic(mic:source:)``).
    public var topic: String
    /// The payload bytes, sent unchanged.
    public var payload: [UInt8]
    /// QoS 0, 1 or 2; nil = ``MQTTSettings/qos``.
    public var qos: Int?
    /// MQTT v5 user properties, in order (a name may repeat).
    public var userProperties: [(name: String, value: String)]
    /// MQTT v5 content type, e.g. `application/x-pytorch`.
    public var contentType: String?

    /// A message; QoS nil means the settings' QoS.
    public init(topic: String, payload: [UInt8], qos: Int? = nil,
                userProperties: [(name: String, value: String)] = [], contentType: String? = nil) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.userProperties = userProperties
        self.contentType = contentType
    }
}

/// A message received from the broker, with the MQTT v5 properties the bridge uses.
public struct IncomingMessage: Sendable {
    /// The topic it was published to.
    public var topic: String
    /// Payload bytes.
    public var payload: [UInt8]
    /// QoS it was delivered with.
    public var qos: Int
    /// Whether it is a retained message.
    public var retain: Bool
    /// MQTT v5 user properties.
    public var userProperties: [(name: String, value: String)]
    /// MQTT v5 content type.
    public var contentType: String?
    /// MQTT v5 response topic (request/response pattern).
    public var responseTopic: String?
    /// MQTT v5 correlation data, to be echoed with the response.
    public var correlationData: [UInt8]?
}

/// The content type of the bridge's own JSON messages (status, command replies). A tensor
/// message names its format's media type (`TensorFormat.mediaType`).
public enum PayloadContentType {
    /// JSON (status, command replies).
    public static let json = "application/json"
}

/// Where and how to answer a command: `{prefix}/cmd/response`, or the MQTT v5 response
/// topic of the request with its correlation data.
public struct ReplyRoute: Sendable, Equatable {
    /// Topic of the reply.
    public var topic: String
    /// Correlation data to echo (MQTT v5), when the request carried some.
    public var correlationData: [UInt8]?
}
