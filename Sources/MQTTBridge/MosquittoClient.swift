import CMosquitto
import Foundation
import Synchronization

/// What libmosquitto's network thread reports, in Swift terms (the codes are mapped here,
/// so nothing above this file looks at `MOSQ_ERR_*` numbers); the callbacks build one of
/// these and hand it over, nothing else runs on that thread.
enum ClientEvent: Sendable {
    /// CONNACK accepted.
    case connected(generation: Int)
    /// CONNACK refused with an MQTT v5 reason (>= 128).
    case refused(generation: Int, reason: MQTTReason)
    /// The connection ended.
    case disconnected(generation: Int, cause: DisconnectCause)
    /// A publish finished: PUBACK (QoS 1), PUBCOMP (QoS 2) or written (QoS 0), with the
    /// broker's reason (>= 128: refused).
    case published(generation: Int, mid: Int32, reason: MQTTReason)
    /// A message arrived on a subscription.
    case message(generation: Int, IncomingMessage)
}

/// A failed libmosquitto call or a connection ended by libmosquitto's side: a
/// `MOSQ_ERR_*` return code as a Swift value, with libmosquitto's own words.
struct MosquittoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The codes the bridge tells apart; the others are `.other`.
    enum Kind: Equatable, Sendable {
        /// MOSQ_ERR_NO_CONN: not connected (yet, or any more).
        case noConnection
        /// MOSQ_ERR_CONN_LOST: the socket closed.
        case connectionLost
        /// MOSQ_ERR_NOMEM.
        case outOfMemory
        /// MOSQ_ERR_ERRNO: a system call failed (`errno`).
        case system
        /// MOSQ_ERR_TLS, MOSQ_ERR_TLS_HANDSHAKE.
        case tls
        /// MOSQ_ERR_PAYLOAD_SIZE, MOSQ_ERR_OVERSIZE_PACKET: too large for MQTT or the broker.
        case payloadTooLarge
        /// MOSQ_ERR_PROTOCOL, MOSQ_ERR_MALFORMED_PACKET: the peer broke the protocol.
        case protocolError
        /// MOSQ_ERR_KEEPALIVE: no PINGRESP in time.
        case keepalive
        /// Anything else (invalid argument, not supported, ...).
        case other
    }

    /// Which failure.
    var kind: Kind
    /// libmosquitto's words for it (`mosquitto_strerror`).
    var text: String

    var description: String { text }

    /// A hint for a TLS failure (libmosquitto only says "A TLS error occurred").
    var hint: String {
        kind == .tls
            ? " (check mqtt.tls: the CA must have signed the broker's certificate, which must name the host)" : ""
    }
}

/// An MQTT v5 reason code (CONNACK, PUBACK, DISCONNECT) with libmosquitto's words for it.
struct MQTTReason: Equatable, Sendable, CustomStringConvertible {
    /// The code, 0...255; >= 128 is a failure.
    var code: Int32
    /// `mosquitto_reason_string`, e.g. "Not authorized".
    var text: String

    static let badUsernameOrPassword: Int32 = 0x86   // MQTT_RC_BAD_USERNAME_OR_PASSWORD
    static let notAuthorized: Int32 = 0x87           // MQTT_RC_NOT_AUTHORIZED
    static let sessionTakenOver: Int32 = 0x8E        // MQTT_RC_SESSION_TAKEN_OVER

    /// Whether the broker refused (CONNACK, PUBACK) or ended the connection for an error.
    var isFailure: Bool { code >= 128 }
    /// A refusal that a password or user name change would fix.
    var isCredentialProblem: Bool { code == Self.badUsernameOrPassword || code == Self.notAuthorized }
    /// Another connection with the same client id took the session over (DISCONNECT 0x8E).
    var isSessionTakenOver: Bool { code == Self.sessionTakenOver }

    /// `Not authorized (reason code 135)`.
    var description: String { "\(text) (reason code \(code))" }
}

/// Why a connection ended, as libmosquitto's disconnect callback reports it: its `rc` is a
/// `MOSQ_ERR_*` code for a failure on our side, 0 for a normal end, and the broker's MQTT v5
/// reason code (>= 128) when the broker sent DISCONNECT (libmosquitto 2.0.11,
/// `handle__disconnect`). The two ranges do not overlap (`MOSQ_ERR_*` < 64).
enum DisconnectCause: Equatable, Sendable, CustomStringConvertible {
    /// Ended without an error (this client asked for it).
    case normal
    /// libmosquitto ended it: socket closed, protocol or TLS error, keepalive.
    case library(MosquittoError)
    /// The broker sent DISCONNECT with this reason (e.g. 0x8E: session taken over).
    case broker(MQTTReason)

    var description: String {
        switch self {
        case .normal: return "No error."   // mosquitto_strerror(MOSQ_ERR_SUCCESS)
        case .library(let error): return error.text
        case .broker(let reason): return "the broker disconnected: \(reason)"
        }
    }
}

extension MosquittoError {
    /// The error of libmosquitto return code `rc`, nil for MOSQ_ERR_SUCCESS.
    init?(code rc: Int32) {
        guard rc != MOSQ_ERR_SUCCESS.rawValue else { return nil }
        let kind: Kind
        switch rc {
        case Int32(MOSQ_ERR_NO_CONN.rawValue): kind = .noConnection
        case Int32(MOSQ_ERR_CONN_LOST.rawValue): kind = .connectionLost
        case Int32(MOSQ_ERR_NOMEM.rawValue): kind = .outOfMemory
        case Int32(MOSQ_ERR_ERRNO.rawValue): kind = .system
        case Int32(MOSQ_ERR_TLS.rawValue), Int32(MOSQ_ERR_TLS_HANDSHAKE.rawValue): kind = .tls
        case Int32(MOSQ_ERR_PAYLOAD_SIZE.rawValue), Int32(MOSQ_ERR_OVERSIZE_PACKET.rawValue): kind = .payloadTooLarge
        case Int32(MOSQ_ERR_PROTOCOL.rawValue), Int32(MOSQ_ERR_MALFORMED_PACKET.rawValue): kind = .protocolError
        case Int32(MOSQ_ERR_KEEPALIVE.rawValue): kind = .keepalive
        default: kind = .other
        }
        self.init(kind: kind, text: mosquitto_strerror(rc).map { String(cString: $0) } ?? "error \(rc)")
    }

    /// What a publish on a client that is gone returns.
    static var noConnection: MosquittoError { MosquittoError(code: Int32(MOSQ_ERR_NO_CONN.rawValue))! }
}

extension MQTTReason {
    /// Reason `code` with libmosquitto's words for it.
    init(code: Int32) {
        self.init(code: code, text: mosquitto_reason_string(code).map { String(cString: $0) } ?? "reason \(code)")
    }
}

extension DisconnectCause {
    /// The cause of libmosquitto's disconnect callback code `rc` (see the type's doc).
    init(code rc: Int32) {
        if rc >= 128 {
            self = .broker(MQTTReason(code: rc))
        } else if let error = MosquittoError(code: rc) {
            self = .library(error)
        } else {
            self = .normal
        }
    }
}

/// MQTT v5 numbers used here; `mqtt_protocol.h` is not part of the `CMosquitto` shim.
enum MQTTv5 {
    static let protocolVersion: Int32 = 5            // MQTT_PROTOCOL_V5
    static let propMessageExpiryInterval: Int32 = 2  // MQTT_PROP_MESSAGE_EXPIRY_INTERVAL
    static let propContentType: Int32 = 3            // MQTT_PROP_CONTENT_TYPE
    static let propResponseTopic: Int32 = 8          // MQTT_PROP_RESPONSE_TOPIC
    static let propCorrelationData: Int32 = 9        // MQTT_PROP_CORRELATION_DATA
    static let propUserProperty: Int32 = 38          // MQTT_PROP_USER_PROPERTY
    static let disconnectWithWill: Int32 = 4         // MQTT_RC_DISCONNECT_WITH_WILL_MSG
    static let subscribeRetainAsPublished: Int32 = 0x08  // MQTT_SUB_OPT_RETAIN_AS_PUBLISHED
}

private let libraryInit: Void = { _ = mosquitto_lib_init() }()

/// One libmosquitto client (`struct mosquitto *`) and the network thread libmosquitto runs
/// for it (`mosquitto_loop_start`).
///
/// `@unchecked Sendable` is safe because: the only Swift state is immutable (`let`) after
/// `init`; libmosquitto locks its own state, so `publish`/`subscribe`/`disconnect` may be
/// called from the bridge's thread while the network thread runs; the C callbacks reach
/// this object through `userdata` only to read the immutable `generation` and `sink`; and
/// the handle is destroyed in `deinit`, which runs only after ``stop()`` has joined the
/// network thread (the owner calls it; `deinit` calls it again if not), so no callback can
/// run on a freed object.
///
/// A client makes one connection attempt in its life: when that connection fails or ends,
/// the owner stops it and makes a new one (see `MQTTBridge`), because libmosquitto 2.0.11's
/// own reconnect is not trustworthy (its loop thread returns for good on DNS, TLS and
/// protocol errors, a refused CONNACK included, and its reconnect after a disconnect is
/// buggy in that version). libmosquitto's reconnect is therefore disabled (delay of a day).
final class MosquittoClient: @unchecked Sendable {
    /// `struct mosquitto *`.
    private let handle: OpaquePointer
    /// Which client of the owner's series this is; events carry it so that late events of
    /// a client already replaced are ignored.
    let generation: Int
    /// Where events go. Must only queue them (runs on the network thread).
    let sink: @Sendable (ClientEvent) -> Void
    /// Whether the network thread was started (stop() must join it).
    private let loopStarted = LockedFlag()

    /// A client of `clientID` (clean start: the bridge keeps its own unacknowledged messages).
    init(clientID: String, generation: Int, sink: @escaping @Sendable (ClientEvent) -> Void) throws {
        _ = libraryInit
        guard let handle = mosquitto_new(clientID, true, nil) else {
            throw BridgeError.client("cannot create a libmosquitto client (out of memory or bad client id)")
        }
        self.handle = handle
        self.generation = generation
        self.sink = sink
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTTv5.protocolVersion),
                  "MQTT v5")
        // Our own supervisor reconnects; libmosquitto's loop must not (see the type's doc).
        _ = mosquitto_reconnect_delay_set(handle, 86_400, 86_400, false)
        mosquitto_connect_v5_callback_set(handle, onConnect)
        mosquitto_disconnect_v5_callback_set(handle, onDisconnect)
        mosquitto_publish_v5_callback_set(handle, onPublish)
        mosquitto_message_v5_callback_set(handle, onMessage)
    }

    deinit {
        stop()
        mosquitto_destroy(handle)
    }

    private func check(_ rc: Int32, _ what: String) throws {
        if let error = MosquittoError(code: rc) {
            throw BridgeError.client("\(what): \(error)")
        }
    }

    /// User name and password (the password is handed to libmosquitto only).
    func setCredentials(username: String, password: String?) throws {
        try check(mosquitto_username_pw_set(handle, username, password), "username/password")
    }

    /// TLS with a CA file (or the system's CA folder) and an optional client certificate;
    /// the broker's name is verified unless `insecure`.
    func setTLS(_ tls: MQTTSettings.TLS) throws {
        let capath = tls.caFile == nil ? MQTTSettings.TLS.systemCAPath : nil
        try check(mosquitto_tls_set(handle, tls.caFile, capath, tls.certificateFile, tls.keyFile, nil),
                  "TLS (ca \(tls.caFile ?? capath ?? ""))")
        if tls.insecure { try check(mosquitto_tls_insecure_set(handle, true), "TLS insecure") }
    }

    /// The last will: published by the broker when this connection dies without DISCONNECT.
    func setWill(topic: String, payload: [UInt8], qos: Int32, retain: Bool, contentType: String?) throws {
        var props: OpaquePointer? = nil
        if let contentType { _ = mosquitto_property_add_string(&props, MQTTv5.propContentType, contentType) }
        let rc = payload.withUnsafeBytes { raw in
            mosquitto_will_set_v5(handle, topic, Int32(raw.count), raw.baseAddress, qos, retain, props)
        }
        // On success libmosquitto owns the property list; on failure it is ours to free.
        if rc != MOSQ_ERR_SUCCESS.rawValue { mosquitto_property_free_all(&props) }
        try check(rc, "last will on \(topic)")
    }

    /// Starts a non-blocking connection and the network thread. The outcome arrives as a
    /// `.connected` or `.disconnected` event. Returns libmosquitto's code for an immediate
    /// failure (DNS, refused socket), as text.
    func connect(host: String, port: Int, keepalive: Int) throws {
        let rc = mosquitto_connect_async(handle, host, Int32(port), Int32(keepalive))
        if rc == MOSQ_ERR_ERRNO.rawValue {
            throw BridgeError.client("connect to \(host):\(port): \(String(cString: strerror(errno)))")
        }
        if let error = MosquittoError(code: rc) {
            throw BridgeError.client("connect to \(host):\(port): \(error)\(error.hint)")
        }
        try check(mosquitto_loop_start(handle), "network thread")
        loopStarted.set()
    }

    /// Publishes with MQTT v5 properties (content type, correlation data, user properties,
    /// message expiry interval in seconds); returns the message id, or the immediate error
    /// (not connected, payload too large, bad topic).
    func publish(topic: String, payload: UnsafeRawBufferPointer, qos: Int32, retain: Bool,
                 userProperties: [(name: String, value: String)], contentType: String?,
                 correlationData: [UInt8]? = nil, messageExpiry: UInt32? = nil) -> Result<Int32, MosquittoError> {
        var props: OpaquePointer? = nil
        defer { mosquitto_property_free_all(&props) }
        // MQTT v5 properties (the protocol's v3.1.1 has none of them).
        if let contentType { _ = mosquitto_property_add_string(&props, MQTTv5.propContentType, contentType) }
        if let messageExpiry { _ = mosquitto_property_add_int32(&props, MQTTv5.propMessageExpiryInterval, messageExpiry) }
        if let correlationData {
            _ = correlationData.withUnsafeBytes { raw in
                mosquitto_property_add_binary(&props, MQTTv5.propCorrelationData, raw.baseAddress,
                                              UInt16(clamping: raw.count))
            }
        }
        for (name, value) in userProperties {
            _ = mosquitto_property_add_string_pair(&props, MQTTv5.propUserProperty, name, value)
        }
        var mid: Int32 = 0
        let rc = mosquitto_publish_v5(handle, &mid, topic, Int32(payload.count), payload.baseAddress,
                                      qos, retain, props)
        if let error = MosquittoError(code: rc) { return .failure(error) }
        return .success(mid)
    }

    /// Subscribes to `filter` with "retain as published" (MQTT v5), so a message published
    /// retained keeps its retain flag even when it arrives live; the SUBACK is not tracked.
    /// Returns the immediate error, if any.
    func subscribe(_ filter: String, qos: Int32) -> MosquittoError? {
        MosquittoError(code: mosquitto_subscribe_v5(handle, nil, filter, qos, MQTTv5.subscribeRetainAsPublished, nil))
    }

    /// `true` while libmosquitto has a socket (a dead loop thread leaves it closed or open;
    /// the bridge also watches PUBACK delays).
    var hasSocket: Bool { mosquitto_socket(handle) >= 0 }

    /// Ends the connection and joins the network thread. `withWill` asks the broker to
    /// publish the last will anyway (MQTT v5 reason 4), used at shutdown so the status turns
    /// offline. Safe to call twice.
    func stop(withWill: Bool = false) {
        _ = mosquitto_disconnect_v5(handle, withWill ? MQTTv5.disconnectWithWill : 0, nil)
        guard loopStarted.clear() else { return }
        // Not `force`: the thread only blocks in select(), which the disconnect above and
        // loop_stop's wake-up byte interrupt; cancelling it could leave a libmosquitto mutex
        // locked and hang mosquitto_destroy.
        _ = mosquitto_loop_stop(handle, false)
    }

    // MARK: callbacks (network thread): hand data over, nothing more.

    fileprivate static func from(_ obj: UnsafeMutableRawPointer?) -> MosquittoClient? {
        guard let obj else { return nil }
        return Unmanaged<MosquittoClient>.fromOpaque(obj).takeUnretainedValue()
    }
}

/// A flag set once and cleared once, thread-safe.
final class LockedFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    /// Clears it; returns whether it was set.
    func clear() -> Bool { value.withLock { was in defer { was = false }; return was } }
}

private func onConnect(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ rc: Int32,
                       _ flags: Int32, _ props: OpaquePointer?) {
    guard let client = MosquittoClient.from(obj) else { return }
    // For MQTT v5, `rc` is the CONNACK reason code: 0 accepted, >= 128 refused.
    client.sink(rc == 0 ? .connected(generation: client.generation)
                        : .refused(generation: client.generation, reason: MQTTReason(code: rc)))
}

private func onDisconnect(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ rc: Int32,
                          _ props: OpaquePointer?) {
    guard let client = MosquittoClient.from(obj) else { return }
    client.sink(.disconnected(generation: client.generation, cause: DisconnectCause(code: rc)))
}

private func onPublish(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ mid: Int32,
                       _ reason: Int32, _ props: OpaquePointer?) {
    guard let client = MosquittoClient.from(obj) else { return }
    client.sink(.published(generation: client.generation, mid: mid, reason: MQTTReason(code: reason)))
}

private func onMessage(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?,
                       _ message: UnsafePointer<mosquitto_message>?, _ props: OpaquePointer?) {
    guard let client = MosquittoClient.from(obj), let m = message?.pointee else { return }
    let topic = m.topic.map { String(cString: $0) } ?? ""
    var payload: [UInt8] = []
    if let bytes = m.payload, m.payloadlen > 0 {
        payload = Array(UnsafeRawBufferPointer(start: bytes, count: Int(m.payloadlen)))
    }
    var incoming = IncomingMessage(topic: topic, payload: payload, qos: Int(m.qos), retain: m.retain,
                                   userProperties: [], contentType: nil, responseTopic: nil,
                                   correlationData: nil)
    incoming.contentType = readString(props, MQTTv5.propContentType)
    incoming.responseTopic = readString(props, MQTTv5.propResponseTopic)
    var data: UnsafeMutableRawPointer? = nil
    var length: UInt16 = 0
    if mosquitto_property_read_binary(props, MQTTv5.propCorrelationData, &data, &length, false) != nil {
        incoming.correlationData = data.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(length))) } ?? []
        free(data)
    }
    var cursor = props
    var skipFirst = false
    while true {
        var name: UnsafeMutablePointer<CChar>? = nil
        var value: UnsafeMutablePointer<CChar>? = nil
        guard let found = mosquitto_property_read_string_pair(cursor, MQTTv5.propUserProperty,
                                                              &name, &value, skipFirst) else { break }
        if let name, let value { incoming.userProperties.append((String(cString: name), String(cString: value))) }
        free(name)
        free(value)
        cursor = found
        skipFirst = true
    }
    client.sink(.message(generation: client.generation, incoming))
}

private func readString(_ props: OpaquePointer?, _ identifier: Int32) -> String? {
    var value: UnsafeMutablePointer<CChar>? = nil
    guard mosquitto_property_read_string(props, identifier, &value, false) != nil, let value else { return nil }
    defer { free(value) }
    return String(cString: value)
}
