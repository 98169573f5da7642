import Foundation
import TensorFormats

/// What `inspect` says about a tensor file.
public struct TensorReport {
    /// One tensor of the file.
    struct Entry {
        /// Its name (safetensors) or nil (a `.pt`/`.npy` holds one unnamed tensor).
        var name: String?
        /// Its shape.
        var shape: [Int]
        /// The element type as stored, when the reader reports it (safetensors: "F32", "F16"...).
        var storedType: String?
        /// Its statistics.
        var statistics: TensorStatistics
    }

    /// The file's path as given.
    var path: String
    /// Its format.
    var format: TensorFormat
    /// The safetensors metadata (empty for other formats).
    var metadata: [String: String] = [:]
    /// The tensors in file order.
    var entries: [Entry] = []

    /// Reads and summarises the file at `path`.
    public init(path: String) throws {
        self.path = path
        format = try TensorFile.format(of: path)
        let bytes = try TensorFile.readBytes(path: path)
        switch format {
        case .safetensors:
            let file = try SafeTensorsFormat.decode(bytes, what: path)
            metadata = file.metadata
            for name in file.names {
                guard let tensor = file.tensors[name] else { continue }
                entries.append(Entry(name: name, shape: tensor.shape, storedType: file.dtypes[name],
                                     statistics: TensorStatistics(tensor.values)))
            }
        case .pt, .npy:
            // The readers convert float16/float64 storages to float32 and do not say which
            // type was stored, so the report says "read as float32" rather than guess.
            let tensor = try format.decode(bytes, what: path)
            entries.append(Entry(name: nil, shape: tensor.shape, storedType: nil,
                                 statistics: TensorStatistics(tensor.values)))
        }
    }

    /// The human-readable report.
    public var text: String {
        var lines: [String] = []
        let formatName = switch format {
        case .pt: "PyTorch .pt"
        case .safetensors: "safetensors"
        case .npy: "NumPy .npy"
        }
        lines.append("\(path.collapsedToOneLine): \(formatName), \(entries.count) tensor\(entries.count == 1 ? "" : "s")")
        if format == .safetensors {
            if metadata.isEmpty {
                lines.append("metadata: none")
            } else {
                lines.append("metadata: \(metadata.keys.sorted().joined(separator: ", "))")
                for key in metadata.keys.sorted() {
                    var value = (metadata[key] ?? "").collapsedToOneLine
                    if value.count > 100 { value = String(value.prefix(100)) + "..." }
                    lines.append("  \(key) = \(value)")
                }
            }
        }
        for entry in entries {
            let name = entry.name.map { "\($0): " } ?? ""
            let type = entry.storedType.map { "dtype \($0)" } ?? "dtype float32 (as read)"
            let s = entry.statistics
            lines.append("\(name)shape \(entry.shape) \(type), \(s.count) values")
            if let min = s.min, let max = s.max, let mean = s.mean, let std = s.std {
                lines.append("  min \(number(min))  max \(number(max))  mean \(number(mean))  std \(number(std))  NaN \(s.nanCount)  inf \(s.infinityCount)")
            } else if s.count == 0 {
                lines.append("  empty: no values")
            } else {
                lines.append("  no finite values  NaN \(s.nanCount)  inf \(s.infinityCount)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The report as one JSON object (keys sorted): `file`, `format`, `metadata` and
    /// `tensors` (each with `name`, `shape`, `dtype`, `count`, `min`, `max`, `mean`, `std`,
    /// `nan`, `inf`; statistics are null when there is no finite value, `dtype` is null when
    /// the reader does not report the stored type).
    public var json: String {
        let tensors: [[String: Any]] = entries.map { entry in
            let s = entry.statistics
            return [
                "name": entry.name ?? NSNull(),
                "shape": entry.shape,
                "dtype": entry.storedType ?? NSNull(),
                "count": s.count,
                "min": s.min ?? NSNull(), "max": s.max ?? NSNull(),
                "mean": s.mean ?? NSNull(), "std": s.std ?? NSNull(),
                "nan": s.nanCount, "inf": s.infinityCount,
            ]
        }
        let object: [String: Any] = [
            "file": path, "format": format.rawValue, "metadata": metadata, "tensors": tensors,
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return "{}\n"
        }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private func number(_ value: Double) -> String {
        String(format: "%.7g", value)
    }
}
