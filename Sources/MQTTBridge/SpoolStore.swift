import Foundation

/// One spooled message as stored: everything needed to publish it again after a restart.
struct SpoolRecord: Sendable {
    var topic: String
    var qos: Int
    var userProperties: [(name: String, value: String)]
    var contentType: String?
    var payload: [UInt8]
    /// When it was handed to the bridge (seconds since 1970), for `messageExpiry`; nil in
    /// files of versions that did not record it.
    var madeAt: Double? = nil

    /// The bytes it takes in the spool (payload plus header).
    var size: Int { payload.count + topic.utf8.count + (contentType?.utf8.count ?? 0) + 64
        + userProperties.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 8 } }

    /// What `messageExpiry` (seconds, 0 = none) means for this message at `now` (seconds
    /// since 1970): no expiry, the interval left to send (whole seconds, at least 1), or
    /// expired at `age` seconds. A message of unknown age counts as made now.
    func expiry(after messageExpiry: Int, now: Double) -> Expiry {
        guard messageExpiry > 0 else { return .none }
        let age = max(0, now - (madeAt ?? now))
        let left = Double(messageExpiry) - age
        if left <= 0 { return .expired(age: age) }
        return .remaining(UInt32(min(Double(UInt32.max), left.rounded(.up))))
    }

    enum Expiry: Equatable {
        case none
        case remaining(UInt32)
        case expired(age: Double)
    }
}

/// How a message was stored: its size in the spool, and the disk's refusal when it was kept
/// in memory instead.
struct SpoolWrite: Equatable {
    var bytes: Int
    var diskError: String?
}

/// Where spooled messages live while they wait for their PUBACK. Used from the bridge's
/// thread only.
protocol SpoolStore {
    /// Stores a message under `sequence` (whole or not at all); returns the bytes it takes
    /// (on disk: the file's size, which is what a restart counts). Throws when it cannot be
    /// kept at all.
    func write(_ record: SpoolRecord, sequence: UInt64) throws -> SpoolWrite
    /// Reads it back.
    func read(sequence: UInt64) throws -> SpoolRecord
    /// Forgets it (delivered or dropped).
    func delete(sequence: UInt64)
    /// Messages left by a previous run: sequence and size.
    func existing() -> [(sequence: UInt64, bytes: Int)]
    /// Messages kept in memory because their disk refused them (lost if the process ends).
    var heldInMemory: Int { get }
}

/// The spool in memory (no `spoolDirectory`): lost when the process ends.
final class MemorySpoolStore: SpoolStore {
    private var records: [UInt64: SpoolRecord] = [:]
    func write(_ record: SpoolRecord, sequence: UInt64) throws -> SpoolWrite {
        records[sequence] = record
        return SpoolWrite(bytes: record.size)
    }
    var heldInMemory: Int { 0 }
    func read(sequence: UInt64) throws -> SpoolRecord {
        guard let record = records[sequence] else { throw BridgeError.spool("message \(sequence) is missing") }
        return record
    }
    func delete(sequence: UInt64) { records[sequence] = nil }
    func existing() -> [(sequence: UInt64, bytes: Int)] { [] }
}

/// The spool on disk: one file per message, `<sequence, 20 digits>.msg`, written aside and
/// renamed so a file is whole or absent, deleted after its PUBACK. The file name keeps
/// the order across restarts.
///
/// When the disk refuses a write (full, read-only, gone), the message is kept in memory
/// instead, up to `memoryLimitBytes`, and read from there; beyond that the write throws (the
/// message is lost, and counted by the caller). Messages in memory do not survive a restart.
///
/// File layout: the 8 bytes `AESPOOL1`, a little-endian UInt32 header length, the header
/// (JSON: topic, qos, content type, user properties as `[name, value]` pairs, the time it was
/// made), the payload.
final class DiskSpoolStore: SpoolStore {
    static let magic = Array("AESPOOL1".utf8)
    let directory: URL
    let memoryLimitBytes: Int
    private var memory: [UInt64: SpoolRecord] = [:]
    private var memoryBytes = 0

    /// Opens (creates) the spool folder and removes half-written files of a crash.
    init(directory: String, memoryLimitBytes: Int = 0) throws {
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
        self.memoryLimitBytes = memoryLimitBytes
        do {
            try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        } catch {
            throw BridgeError.spool("cannot create folder '\(directory)': \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw BridgeError.spool("folder '\(directory)' is not writable")
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasSuffix(".tmp") {
            try? FileManager.default.removeItem(at: self.directory.appendingPathComponent(name))
        }
    }

    private func url(_ sequence: UInt64) -> URL {
        let digits = String(sequence)
        return directory.appendingPathComponent(String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".msg")
    }

    private struct Header: Codable {
        var topic: String
        var qos: Int
        var contentType: String?
        var userProperties: [[String]]
        var madeAt: Double?
    }

    var heldInMemory: Int { memory.count }

    func write(_ record: SpoolRecord, sequence: UInt64) throws -> SpoolWrite {
        do {
            return SpoolWrite(bytes: try writeFile(record, sequence: sequence))
        } catch {
            let size = record.size
            guard memoryBytes + size <= memoryLimitBytes else { throw error }
            memory[sequence] = record
            memoryBytes += size
            return SpoolWrite(bytes: size, diskError: "\(error)")
        }
    }

    private func writeFile(_ record: SpoolRecord, sequence: UInt64) throws -> Int {
        let header = Header(topic: record.topic, qos: record.qos, contentType: record.contentType,
                            userProperties: record.userProperties.map { [$0.name, $0.value] }, madeAt: record.madeAt)
        let headerBytes = try JSONEncoder().encode(header)
        var bytes = Self.magic
        bytes.reserveCapacity(12 + headerBytes.count + record.payload.count)
        let length = UInt32(headerBytes.count)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        bytes.append(contentsOf: headerBytes)
        bytes.append(contentsOf: record.payload)
        let final = url(sequence)
        let temporary = final.appendingPathExtension("tmp")
        // POSIX calls, not Data.write: the error must name errno (ENOSPC: "No space left on device").
        var failure: String?
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 {
            failure = String(cString: strerror(errno))
        } else {
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = String(cString: strerror(errno)); break }
                done += n
            }
            if close(fd) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
            if failure == nil && rename(temporary.path, final.path) != 0 {
                failure = "rename: \(String(cString: strerror(errno)))"
            }
        }
        if let failure {
            unlink(temporary.path)
            throw BridgeError.spool("cannot write \(final.path): \(failure)")
        }
        return bytes.count
    }

    func read(sequence: UInt64) throws -> SpoolRecord {
        if let record = memory[sequence] { return record }
        let path = url(sequence).path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BridgeError.spool("cannot read \(path)")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 12, Array(bytes[0..<8]) == Self.magic else {
            throw BridgeError.spool("\(path) is not a spool file")
        }
        let length = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        guard length <= bytes.count - 12,
              let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[12..<(12 + length)])),
              header.userProperties.allSatisfy({ $0.count == 2 })
        else {
            throw BridgeError.spool("\(path) has a damaged header")
        }
        return SpoolRecord(topic: header.topic, qos: header.qos,
                           userProperties: header.userProperties.map { (name: $0[0], value: $0[1]) },
                           contentType: header.contentType, payload: Array(bytes[(12 + length)...]),
                           madeAt: header.madeAt)
    }

    func delete(sequence: UInt64) {
        if let record = memory.removeValue(forKey: sequence) {
            memoryBytes -= record.size
            return
        }
        unlink(url(sequence).path)
    }

    func existing() -> [(sequence: UInt64, bytes: Int)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name in
            guard name.hasSuffix(".msg"), let sequence = UInt64(name.dropLast(4)) else { return nil }
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
            return (sequence, (attributes?[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}
