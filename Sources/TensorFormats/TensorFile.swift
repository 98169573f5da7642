import Foundation

/// Tensor files on disk: the format follows the extension (`.pt`, `.safetensors`, `.npy`).
/// Writes are atomic: the bytes go to a hidden temporary file beside the target, are synced,
/// then renamed over it, so a reader sees the whole file or none.
public enum TensorFile {
    /// The format of `path` by its extension, or an error naming the path.
    public static func format(of path: String) throws(TensorFormatError) -> TensorFormat {
        let ext = (path as NSString).pathExtension
        guard let format = TensorFormat(pathExtension: ext) else {
            let known = TensorFormat.allCases.map { "." + $0.fileExtension }.joined(separator: ", ")
            throw TensorFormatError("\(path): unknown tensor file extension '.\(ext)' (expected one of \(known))")
        }
        return format
    }

    /// Reads the single tensor of a `.pt`, `.safetensors` or `.npy` file.
    public static func read(path: String) throws(TensorFormatError) -> Tensor {
        let format = try format(of: path)
        return try format.decode(try readBytes(path: path), what: path)
    }

    /// Writes `tensor` to `path` in the format of its extension (elements of `dtype`: float32
    /// or float16), atomically.
    public static func write(_ tensor: Tensor, to path: String, metadata: [String: String] = [:],
                             dtype: TensorElementType = .float32) throws(TensorFormatError) {
        let format = try format(of: path)
        try writeAtomically(format.encode(tensor, metadata: metadata, dtype: dtype), to: path)
    }

    /// The whole content of a file, or an error naming the path and the system's reason.
    public static func readBytes(path: String) throws(TensorFormatError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TensorFormatError("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw TensorFormatError("\(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw TensorFormatError("\(path): not a regular file") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw TensorFormatError("\(path): read failed after \(done) bytes: \(n < 0 ? String(cString: strerror(errno)) : "unexpected end")")
            }
            done += n
        }
        return bytes
    }

    /// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
    /// On any failure the temporary file is removed and the error names `path` and the reason
    /// (a full disk, a missing or read-only folder).
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(TensorFormatError) {
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TensorFormatError("\(path): cannot create: \(String(cString: strerror(errno)))") }
        var failure: String?
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = "write failed: \(String(cString: strerror(errno)))"; break }
            done += n
        }
        if failure == nil && fsync(fd) != 0 { failure = "sync failed: \(String(cString: strerror(errno)))" }
        if close(fd) != 0 && failure == nil { failure = "close failed: \(String(cString: strerror(errno)))" }
        if failure == nil && rename(temp, path) != 0 { failure = "rename failed: \(String(cString: strerror(errno)))" }
        if let failure {
            unlink(temp)
            throw TensorFormatError("\(path): \(failure)")
        }
    }
}
