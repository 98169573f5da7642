import CZlib

/// The zip container of PyTorch's `.pt` files: every record *stored* (no compression), each
/// record's data aligned to 64 bytes by padding the local header's extra field, as
/// `torch.save` does (its reader memory-maps storages and expects that alignment).
///
/// Written by hand because no Debian zip library writes that alignment and reading needs only
/// the central directory of stored records; CRC-32 comes from zlib.
enum StoredZip {
    static let alignment = 64

    /// Builds an archive of `records` (name, data), in order.
    static func write(_ records: [(name: String, data: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for record in records {
            let name = Array(record.name.utf8)
            let crc = record.data.withUnsafeBufferPointer { buf in
                UInt32(crc32(0, buf.baseAddress, UInt32(buf.count)))
            }
            let offset = out.count
            // 30-byte fixed local header + name + extra (an "FB" padding field, as torch writes).
            var extra: [UInt8] = []
            let unpadded = offset + 30 + name.count
            var pad = (alignment - unpadded % alignment) % alignment
            if pad > 0 && pad < 4 { pad += alignment }  // an extra field needs 4 header bytes
            if pad > 0 {
                extra.appendLE16(0x4246)  // "FB"
                extra.appendLE16(UInt16(pad - 4))
                extra.append(contentsOf: repeatElement(0, count: pad - 4))
            }
            out.appendLE32(0x0403_4b50)
            out.appendLE16(20)      // version needed
            out.appendLE16(0)       // flags
            out.appendLE16(0)       // method: stored
            out.appendLE16(0)       // time
            out.appendLE16(0x21)    // date: 1980-01-01
            out.appendLE32(crc)
            out.appendLE32(UInt32(record.data.count))
            out.appendLE32(UInt32(record.data.count))
            out.appendLE16(UInt16(name.count))
            out.appendLE16(UInt16(extra.count))
            out.append(contentsOf: name)
            out.append(contentsOf: extra)
            out.append(contentsOf: record.data)

            central.appendLE32(0x0201_4b50)
            central.appendLE16(20)  // version made by
            central.appendLE16(20)  // version needed
            central.appendLE16(0)
            central.appendLE16(0)
            central.appendLE16(0)
            central.appendLE16(0x21)
            central.appendLE32(crc)
            central.appendLE32(UInt32(record.data.count))
            central.appendLE32(UInt32(record.data.count))
            central.appendLE16(UInt16(name.count))
            central.appendLE16(0)   // extra
            central.appendLE16(0)   // comment
            central.appendLE16(0)   // disk
            central.appendLE16(0)   // internal attributes
            central.appendLE32(0)   // external attributes
            central.appendLE32(UInt32(offset))
            central.append(contentsOf: name)
        }
        let centralOffset = out.count
        out.append(contentsOf: central)
        out.appendLE32(0x0605_4b50)
        out.appendLE16(0)
        out.appendLE16(0)
        out.appendLE16(UInt16(records.count))
        out.appendLE16(UInt16(records.count))
        out.appendLE32(UInt32(central.count))
        out.appendLE32(UInt32(centralOffset))
        out.appendLE16(0)
        return out
    }

    /// One record of an archive: its name and where its (stored) data lies.
    struct Entry {
        var name: String
        var dataOffset: Int
        var size: Int
        var crc: UInt32
    }

    /// Lists the records of an archive, checking that each is stored and lies inside `bytes`.
    static func entries(_ bytes: [UInt8], what: String) throws(TensorFormatError) -> [Entry] {
        let r = ByteReader(bytes: bytes, what: what)
        // The end-of-central-directory record is in the last 22 + 65535 bytes.
        guard bytes.count >= 22 else { throw TensorFormatError("\(what) is not a zip archive (too short)") }
        var eocd = -1
        var i = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while i >= lowest {
            if bytes[i] == 0x50, bytes[i + 1] == 0x4b, bytes[i + 2] == 0x05, bytes[i + 3] == 0x06 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw TensorFormatError("\(what) is not a zip archive (no end-of-central-directory record; truncated?)") }
        var count = Int(try r.u16(eocd + 10))
        var centralSize = Int(try r.u32(eocd + 12))
        var centralOffset = Int(try r.u32(eocd + 16))
        // Zip64: the 32-bit fields are saturated and a zip64 EOCD record sits before the locator.
        if count == 0xFFFF || centralOffset == 0xFFFF_FFFF || centralSize == 0xFFFF_FFFF {
            let locator = eocd - 20
            guard locator >= 0, try r.u32(locator) == 0x0706_4b50 else {
                throw TensorFormatError("\(what): zip64 archive without a zip64 locator")
            }
            let record = Int(clamping: try r.u64(locator + 8))
            guard try r.u32(record) == 0x0606_4b50 else { throw TensorFormatError("\(what): bad zip64 end record") }
            count = Int(clamping: try r.u64(record + 32))
            centralSize = Int(clamping: try r.u64(record + 40))
            centralOffset = Int(clamping: try r.u64(record + 48))
        }
        try r.require(centralOffset, centralSize)
        var result: [Entry] = []
        var p = centralOffset
        for _ in 0..<count {
            guard try r.u32(p) == 0x0201_4b50 else { throw TensorFormatError("\(what): corrupt zip central directory") }
            let method = try r.u16(p + 10)
            let crc = try r.u32(p + 16)
            var compressed = Int(try r.u32(p + 20))
            var size = Int(try r.u32(p + 24))
            let nameLength = Int(try r.u16(p + 28))
            let extraLength = Int(try r.u16(p + 30))
            let commentLength = Int(try r.u16(p + 32))
            var localOffset = Int(try r.u32(p + 42))
            let name = String(decoding: try r.slice(p + 46, nameLength), as: UTF8.self)
            // Zip64 extended information: the saturated fields follow, in this order.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = try r.u16(e), len = Int(try r.u16(e + 2))
                if id == 0x0001 {
                    var q = e + 4
                    if size == 0xFFFF_FFFF { size = Int(clamping: try r.u64(q)); q += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = Int(clamping: try r.u64(q)); q += 8 }
                    if localOffset == 0xFFFF_FFFF { localOffset = Int(clamping: try r.u64(q)) }
                }
                e += 4 + len
            }
            guard method == 0, compressed == size else {
                throw TensorFormatError("\(what): record \(name) is compressed (method \(method)); .pt records are stored")
            }
            guard try r.u32(localOffset) == 0x0403_4b50 else {
                throw TensorFormatError("\(what): record \(name) has no local header")
            }
            let dataOffset = localOffset + 30 + Int(try r.u16(localOffset + 26)) + Int(try r.u16(localOffset + 28))
            try r.require(dataOffset, size)
            result.append(Entry(name: name, dataOffset: dataOffset, size: size, crc: crc))
            p += 46 + nameLength + extraLength + commentLength
        }
        return result
    }

    /// Whether the data of `entry` matches its CRC-32.
    static func checksumMatches(_ bytes: [UInt8], _ entry: Entry) -> Bool {
        bytes.withUnsafeBufferPointer { buf in
            UInt32(crc32(0, buf.baseAddress! + entry.dataOffset, UInt32(entry.size))) == entry.crc
        }
    }
}
