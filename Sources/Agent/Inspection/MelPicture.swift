import Foundation
import Pictures
import Pipeline
import TensorFormats

/// What `inspect --png` draws: one mel tensor file, or a segment folder of the disk mirror
/// (`segment.json`, `mic_{i}/{source}.pt`) as microphones x sources.
public struct MelPicture {
    /// The sheet to render.
    var sheet: SpectrogramSheet

    /// Reads the tensor file or segment folder at `path`; a one-line error names what is wrong.
    public init(path: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw AgentFailure("\(path): no such file or folder")
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
            throw AgentFailure("\(folder): not a segment folder (no segment.json); --png draws a tensor file or a segment folder")
        }
        let record: SegmentRecord
        do {
            record = try JSONDecoder().decode(SegmentRecord.self, from: Data(TensorFile.readBytes(path: recordPath)))
        } catch let error as TensorFormatError {
            throw error
        } catch let DecodingError.keyNotFound(key, _) {
            throw AgentFailure("\(recordPath): not a segment record: no '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw AgentFailure("\(recordPath): not a segment record: '\(key)' has the wrong type")
        } catch {
            throw AgentFailure("\(recordPath): not a segment record: not valid JSON")
        }
        guard record.channels > 0, record.channels <= 64, !record.sources.isEmpty, record.sources.count <= 64 else {
            throw AgentFailure("\(recordPath): \(record.channels) microphones and \(record.sources.count) sources: nothing to draw")
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
            throw AgentFailure("\(path): \(error)")
        }
    }

    /// `make()`, its `PictureError` naming `path`.
    private static func sheet(_ path: String, _ make: @autoclosure () throws(PictureError) -> SpectrogramSheet) throws -> SpectrogramSheet {
        do {
            return try make()
        } catch {
            throw AgentFailure("\(path): \(error)")
        }
    }

    /// Renders, encodes and writes the PNG atomically (nothing is left on failure); returns
    /// the picture's size.
    public func write(to path: String) throws -> (width: Int, height: Int) {
        let image = sheet.render()
        let bytes: [UInt8]
        do {
            bytes = try PNGEncoder.encode(image)
        } catch {
            throw AgentFailure("\(path): \(error)")
        }
        try TensorFile.writeAtomically(bytes, to: path)
        return (image.width, image.height)
    }

    /// The line `inspect --png` prints.
    public func summary(writtenTo path: String, size: (width: Int, height: Int)) -> String {
        let rows = sheet.cells.count, columns = sheet.cells[0].count
        let range = sheet.range.map { String(format: "%.1f to %.1f dB", $0.low, $0.high) } ?? "no finite values"
        return "\(path.collapsedToOneLine): \(size.width)x\(size.height) PNG, \(rows)x\(columns) spectrogram\(rows * columns == 1 ? "" : "s"), \(range)"
    }
}
