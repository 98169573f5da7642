import Foundation
import TensorFormats

/// Why the mirror could not write a segment: one line naming the path and the reason.
public struct MirrorError: Error, CustomStringConvertible {
    /// The one-line reason.
    public var description: String
}

/// The disk mirror of the original design note:
/// `{root}/{YYYY-MM-DD_HH-MM-SS}/mic_{i}/{source}.pt` plus `segment.json`, one folder per
/// segment named by its start (UTC).
///
/// A segment is assembled in a hidden folder `{root}/.{name}.partial` and renamed into place
/// when every file is written, so a reader (or the retention sweep) never sees half a segment.
/// Two segments never share a folder: when the name is taken (two segments in the same
/// second, or a restart), the folder gets a suffix `_1`, `_2`, ...
public struct MirrorWriter: Sendable {
    /// The mirror's root folder (`output.dir`).
    public var root: String

    /// A writer into `root` (created when missing).
    public init(root: String) {
        self.root = root
    }

    /// Writes one segment: `tensors[mic][source]` as `.pt` files (in `sources` order) and
    /// `segment.json`; returns the segment folder's path. On failure nothing is left behind.
    @discardableResult
    public func write(record: SegmentRecord, start: SegmentTime, tensors: [[Tensor]]) throws(MirrorError) -> String {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw MirrorError(description: "\(root): cannot create the output folder: \(Self.reason(error))")
        }
        let base = start.folderName
        let staging = "\(root)/.\(base).\(getpid()).partial"
        try? fm.removeItem(atPath: staging)
        do {
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: false)
            for (mic, perSource) in tensors.enumerated() {
                let micFolder = "\(staging)/mic_\(mic)"
                try fm.createDirectory(atPath: micFolder, withIntermediateDirectories: false)
                for (source, tensor) in zip(record.sources, perSource) {
                    try TensorFile.write(tensor, to: "\(micFolder)/\(source).pt")
                }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try TensorFile.writeAtomically(Array(try encoder.encode(record)) + [0x0a], to: "\(staging)/segment.json")
        } catch {
            try? fm.removeItem(atPath: staging)
            throw MirrorError(description: Self.reason(error).hasPrefix("/") ? Self.reason(error)
                              : "\(staging): \(Self.reason(error))")
        }
        // Rename into the first free name. rename(2) refuses to replace a non-empty folder,
        // so a taken name is detected atomically, not raced.
        var suffix = 0
        while true {
            let target = suffix == 0 ? "\(root)/\(base)" : "\(root)/\(base)_\(suffix)"
            if !fm.fileExists(atPath: target), rename(staging, target) == 0 { return target }
            if fm.fileExists(atPath: target) || errno == ENOTEMPTY || errno == EEXIST {
                suffix += 1
                continue
            }
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(atPath: staging)
            throw MirrorError(description: "\(target): cannot rename the segment into place: \(reason)")
        }
    }

    private static func reason(_ error: Error) -> String {
        if let e = error as? TensorFormatError { return e.description }
        if let e = error as? CocoaError, let underlying = e.userInfo[NSUnderlyingErrorKey] as? POSIXError {
            return "\(e.filePath ?? ""): \(String(cString: strerror(underlying.code.rawValue)))"
        }
        return error.localizedDescription
    }
}
