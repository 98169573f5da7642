import Foundation

/// One spooled message as stored: everything needed to publish it again after a restart.
struct SpoolRecord: Sendable {
    var topic: String
    var qos: Int
    var userProperties: [(name: String, value: String)]
    var contentType: String?
    var payload: [UInt8]

    /// The bytes it takes in the spool (payload plus header).
    var size: Int { payload.count + topic.utf8.count + (contentType?.utf8.count ?? 0) + 64
        + userProperties.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 8 } }
}

/// Where spooled messages live while they wait for their PUBACK. Used from the bridge's
/// thread only.
protocol SpoolStore {
    /// Stores a message under `sequence` (whole or not at all); returns the bytes it takes
    /// (on disk: the file's size, which is what a restart counts).
    func write(_ record: SpoolRecord, sequence: UInt64) throws -> Int
    /// Reads it back.
    func read(sequence: UInt64) throws -> SpoolRecord
    /// Forgets it (delivered or dropped).
    func delete(sequence: UInt64)
    /// Messages left by a previous run: sequence and size.
    func existing() -> [(sequence: UInt64, bytes: Int)]
}

/// The spool in memory (no `spoolDirectory`): lost when the process ends.
final class MemorySpoolStore: SpoolStore {
    private var records: [UInt64: SpoolRecord] = [:]
    func write(_ record: SpoolRecord, sequence: UInt64) throws -> Int {
        records[sequence] = record
        return record.size
    }
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
/// File layout: the 8 bytes `AESPOOL1`, a little-endian UInt32 header length, the header
/// (JSON: topic, qos, content type, user properties as `[name, value]` pairs), the payload.
final class DiskSpoolStore: SpoolStore {
    static let magic = Array("AESPOOL1".utf8)
    let directory: URL

    /// Opens (creates) the spool folder and removes half-written files of a crash.
    init(directory: String) throws {
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
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
    }

    func write(_ record: SpoolRecord, sequence: UInt64) throws -> Int {
        let header = Header(topic: record.topic, qos: record.qos, contentType: record.contentType,
                            userProperties: record.userProperties.map { [$0.name, $0.value] })
        let headerBytes = try JSONEncoder().encode(header)
        var bytes = Self.magic
        bytes.reserveCapacity(12 + headerBytes.count + record.payload.count)
        let length = UInt32(headerBytes.count)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        bytes.append(contentsOf: headerBytes)
        bytes.append(contentsOf: record.payload)
        let final = url(sequence)
        let temporary = final.appendingPathExtension("tmp")
        do {
            try Data(bytes).write(to: temporary)
            guard rename(temporary.path, final.path) == 0 else {
                throw BridgeError.spool("cannot rename \(temporary.path): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw BridgeError.spool("cannot write \(final.path): \(error.localizedDescription)")
        }
        return bytes.count
    }

    func read(sequence: UInt64) throws -> SpoolRecord {
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
                           contentType: header.contentType, payload: Array(bytes[(12 + length)...]))
    }

    func delete(sequence: UInt64) {
        try? FileManager.default.removeItem(at: url(sequence))
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
