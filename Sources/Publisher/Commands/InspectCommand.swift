import ArgumentParser
import Foundation
import Pictures
import Pipeline
import TensorFormats

/// `acoustic-edge inspect FILE`: the shape, element type and statistics of every tensor in a
/// `.pt`, `.safetensors` or `.npy` file (and a safetensors file's metadata).
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show the shape, type and statistics of a tensor file (.pt, .safetensors, .npy).",
        discussion: """
            For every tensor: shape, element type, number of values, min, max, mean and \
            standard deviation (population, over the finite values) and the count of NaN and \
            infinite values. For a safetensors file also its metadata. --json prints the same \
            facts as one JSON object.

            --png OUT.png draws a mel tensor ([1, n_mels, frames] or [n_mels, frames]) as a \
            heat map with a dB colour scale (viridis; mel bins upwards, time to the right), or \
            a segment folder of the disk mirror (segment.json, mic_{i}/{source}.pt) as a grid: \
            microphones in rows, sources in columns, one shared colour scale. See docs/pictures.md.
            """
    )

    @Argument(help: ArgumentHelp("The tensor file (or, with --png, a segment folder).", valueName: "file"))
    var file: String

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Draw the mel tensor or segment folder as a PNG heat map at this path.",
                                            valueName: "out.png"))
    var png: String?

    func validate() throws {
        if json && png != nil { throw ValidationError("--json and --png cannot be used together") }
    }

    func run() async throws {
        if let png {
            let picture = try MelPicture(path: file)
            let size = try picture.write(to: png)
            print(picture.summary(writtenTo: png, size: size))
            return
        }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isFolder), isFolder.boolValue {
            throw CommandFailure("\(file): a folder; inspect reads a tensor file (a segment folder can be drawn with --png OUT.png)")
        }
        let report = try TensorReport(path: file)
        print(json ? report.json : report.text, terminator: "")
    }
}

/// What `inspect` says about a tensor file.
struct TensorReport {
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
    var format: TensorFile.Format
    /// The safetensors metadata (empty for other formats).
    var metadata: [String: String] = [:]
    /// The tensors in file order.
    var entries: [Entry] = []

    /// Reads and summarises the file at `path`.
    init(path: String) throws {
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
    var text: String {
        var lines: [String] = []
        let formatName = switch format {
        case .pt: "PyTorch .pt"
        case .safetensors: "safetensors"
        case .npy: "NumPy .npy"
        }
        lines.append("\(Failure.oneLine(path)): \(formatName), \(entries.count) tensor\(entries.count == 1 ? "" : "s")")
        if format == .safetensors {
            if metadata.isEmpty {
                lines.append("metadata: none")
            } else {
                lines.append("metadata: \(metadata.keys.sorted().joined(separator: ", "))")
                for key in metadata.keys.sorted() {
                    var value = Failure.oneLine(metadata[key] ?? "")
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
    var json: String {
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

/// Summary statistics of float32 values, accumulated in double precision. NaN and infinite
/// values are counted and left out of min, max, mean and std (population, divisor n).
struct TensorStatistics {
    /// The number of values.
    var count: Int
    /// NaN values.
    var nanCount = 0
    /// Infinite values (either sign).
    var infinityCount = 0
    /// The smallest finite value; nil when there is none.
    var min: Double?
    /// The largest finite value; nil when there is none.
    var max: Double?
    /// The mean of the finite values; nil when there is none.
    var mean: Double?
    /// The population standard deviation of the finite values; nil when there is none.
    var std: Double?

    /// The statistics of `values`.
    init(_ values: [Float]) {
        count = values.count
        var finite = 0
        var sum = 0.0
        var low = Double.infinity, high = -Double.infinity
        for value in values {
            if value.isNaN { nanCount += 1; continue }
            if value.isInfinite { infinityCount += 1; continue }
            let v = Double(value)
            finite += 1
            sum += v
            low = Swift.min(low, v)
            high = Swift.max(high, v)
        }
        guard finite > 0 else { return }
        let average = sum / Double(finite)
        // Two passes: the deviations from the mean, not E[x^2] - E[x]^2, which cancels badly.
        var squares = 0.0
        for value in values where value.isFinite {
            let d = Double(value) - average
            squares += d * d
        }
        min = low
        max = high
        mean = average
        std = (squares / Double(finite)).squareRoot()
    }
}

/// What `inspect --png` draws: one mel tensor file, or a segment folder of the disk mirror
/// (`segment.json`, `mic_{i}/{source}.pt`) as microphones x sources.
struct MelPicture {
    /// The sheet to render.
    var sheet: SpectrogramSheet

    /// Reads the tensor file or segment folder at `path`; a one-line error names what is wrong.
    init(path: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw CommandFailure("\(path): no such file or folder")
        }
        if isFolder.boolValue {
            sheet = try Self.segmentSheet(folder: path)
        } else {
            let spectrogram = try Self.spectrogram(path: path)
            // A 240x240 mel drawn 2x: big enough to read, small enough for any screen.
            let scale = max(1, min(4, 480 / max(spectrogram.bins, spectrogram.frames)))
            let name = (path as NSString).lastPathComponent
            sheet = try Self.sheet(path, SpectrogramSheet(title: "\(name)  \(spectrogram.bins) mels x \(spectrogram.frames) frames",
                                                          cells: [[spectrogram]], scale: scale))
        }
    }

    /// The segment folder's grid, labelled by `segment.json`.
    private static func segmentSheet(folder: String) throws -> SpectrogramSheet {
        let recordPath = (folder as NSString).appendingPathComponent("segment.json")
        guard FileManager.default.fileExists(atPath: recordPath) else {
            throw CommandFailure("\(folder): not a segment folder (no segment.json); --png draws a tensor file or a segment folder")
        }
        let record: SegmentRecord
        do {
            record = try JSONDecoder().decode(SegmentRecord.self, from: Data(TensorFile.readBytes(path: recordPath)))
        } catch let error as TensorFormatError {
            throw error
        } catch let DecodingError.keyNotFound(key, _) {
            throw CommandFailure("\(recordPath): not a segment record: no '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw CommandFailure("\(recordPath): not a segment record: '\(key)' has the wrong type")
        } catch {
            throw CommandFailure("\(recordPath): not a segment record: not valid JSON")
        }
        guard record.channels > 0, record.channels <= 64, !record.sources.isEmpty, record.sources.count <= 64 else {
            throw CommandFailure("\(recordPath): \(record.channels) microphones and \(record.sources.count) sources: nothing to draw")
        }
        var cells: [[Spectrogram]] = []
        for mic in 0..<record.channels {
            var row: [Spectrogram] = []
            for source in record.sources {
                row.append(try spectrogram(path: "\(folder)/mic_\(mic)/\(source).pt"))
            }
            cells.append(row)
        }
        return try sheet(folder, SpectrogramSheet(
            title: "segment \(record.segmentIndex)  start \(record.start)",
            rowLabels: (0..<record.channels).map { "mic_\($0)" }, columnLabels: record.sources,
            cells: cells, scale: 1))
    }

    /// The mel spectrogram in the tensor file at `path`.
    private static func spectrogram(path: String) throws -> Spectrogram {
        let tensor = try TensorFile.read(path: path)
        do {
            return try Spectrogram(shape: tensor.shape, values: tensor.values)
        } catch {
            throw CommandFailure("\(path): \(error)")
        }
    }

    /// `make()`, its `PictureError` naming `path`.
    private static func sheet(_ path: String, _ make: @autoclosure () throws(PictureError) -> SpectrogramSheet) throws -> SpectrogramSheet {
        do {
            return try make()
        } catch {
            throw CommandFailure("\(path): \(error)")
        }
    }

    /// Renders, encodes and writes the PNG atomically (nothing is left on failure); returns
    /// the picture's size.
    func write(to path: String) throws -> (width: Int, height: Int) {
        let image = sheet.render()
        let bytes: [UInt8]
        do {
            bytes = try PNGEncoder.encode(image)
        } catch {
            throw CommandFailure("\(path): \(error)")
        }
        try TensorFile.writeAtomically(bytes, to: path)
        return (image.width, image.height)
    }

    /// The line `inspect --png` prints.
    func summary(writtenTo path: String, size: (width: Int, height: Int)) -> String {
        let rows = sheet.cells.count, columns = sheet.cells[0].count
        let range = sheet.range.map { String(format: "%.1f to %.1f dB", $0.low, $0.high) } ?? "no finite values"
        return "\(Failure.oneLine(path)): \(size.width)x\(size.height) PNG, \(rows)x\(columns) spectrogram\(rows * columns == 1 ? "" : "s"), \(range)"
    }
}
