import Foundation
import ReferenceHarness
import TensorFormats
import XCTest

@testable import Pictures

/// The pictures of `acoustic-edge inspect --png`, decoded by a real PNG decoder (Pillow) and
/// their colours compared with matplotlib's viridis (Tests/reference/png_reference.py).
final class PicturesTests: XCTestCase {
    var agent: String { ReferenceHarness.agentExecutable }

    func scratch() throws -> URL {
        let dir = try ReferenceHarness.makeScratchFolder(prefix: "pictures")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Decodes `png` with Pillow and reads the pixels at `points`, with what matplotlib's
    /// viridis gives their values on the scale `low...high`.
    func decode(_ png: URL, low: Double, high: Double, points: [(x: Int, y: Int, value: Double)],
                in dir: URL) throws -> (width: Int, height: Int, pixels: [[Int]], expected: [[Int]]) {
        let queries: [String: Any] = [
            "low": low, "high": high,
            "points": points.map { ["x": $0.x, "y": $0.y, "value": $0.value] as [String: Any] },
        ]
        let queryURL = dir.appendingPathComponent("queries-\(UUID().uuidString).json")
        let outURL = dir.appendingPathComponent("decoded-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: queries).write(to: queryURL)
        try ReferenceHarness.python("png_reference.py", ["decode", png.path, queryURL.path, outURL.path])
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: outURL)) as? [String: Any])
        XCTAssertEqual(result["format"] as? String, "PNG")
        XCTAssertEqual(result["mode"] as? String, "RGB")
        return (try XCTUnwrap(result["width"] as? Int), try XCTUnwrap(result["height"] as? Int),
                try XCTUnwrap(result["pixels"] as? [[Int]]), try XCTUnwrap(result["expected"] as? [[Int]]))
    }

    /// Every channel of `pixels[i]` within `tolerance` of `expected[i]`.
    func assertColors(_ pixels: [[Int]], _ expected: [[Int]], tolerance: Int = 3, _ what: String,
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(pixels.count, expected.count, file: file, line: line)
        for (i, (p, e)) in zip(pixels, expected).enumerated() {
            let worst = zip(p, e).map { abs($0 - $1) }.max() ?? .max
            XCTAssertLessThanOrEqual(worst, tolerance, "\(what) point \(i): \(p) vs matplotlib \(e)", file: file, line: line)
        }
    }

    // MARK: the colour map

    /// The interpolated viridis stays within 3/255 of matplotlib's on every channel.
    func testViridisIsMatplotlibs() throws {
        let dir = try scratch()
        let out = dir.appendingPathComponent("viridis.json")
        try ReferenceHarness.python("png_reference.py", ["viridis", out.path])
        let reference = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [[Int]])
        XCTAssertEqual(reference.count, 1001)
        var worst = 0
        for (i, expected) in reference.enumerated() {
            let c = Viridis.color(Double(i) / 1000, low: 0, high: 1)
            worst = max(worst, zip([Int(c.red), Int(c.green), Int(c.blue)], expected).map { abs($0 - $1) }.max() ?? 0)
        }
        XCTAssertLessThanOrEqual(worst, 3, "largest channel difference to matplotlib's viridis")
        XCTAssertEqual(Viridis.color(5, low: 2, high: 2), Viridis.table[0], "a flat scale")
    }

    /// Every glyph is 5 x 7 of `#` and `.`; labels are drawn in capitals, "dB" as written.
    func testFont() {
        for (character, rows) in BitmapFont.glyphs {
            XCTAssertEqual(rows.count, BitmapFont.glyphHeight, "\(character)")
            for row in rows {
                XCTAssertEqual(row.count, BitmapFont.glyphWidth, "\(character)")
                XCTAssertTrue(row.allSatisfy { $0 == "#" || $0 == "." }, "\(character)")
            }
        }
        var lower = RGBImage(width: 40, height: 10), upper = RGBImage(width: 40, height: 10)
        lower.draw(text: "slider", x: 0, y: 0, scale: 1, color: .black)
        upper.draw(text: "SLIDER", x: 0, y: 0, scale: 1, color: .black)
        XCTAssertEqual(lower, upper)
        var unit = RGBImage(width: 20, height: 10)
        unit.draw(text: "dB", x: 0, y: 0, scale: 1, color: .black, caseSensitive: true)
        XCTAssertEqual(unit.pixel(x: 4, y: 0), .black, "the d's stem")
        XCTAssertEqual(unit.pixel(x: 0, y: 0), .white, "not a D")
    }

    // MARK: the renderer and the encoder, through a real decoder

    /// A 2-D ramp drawn by the library: size, mel bins upwards, time to the right, colours
    /// as matplotlib maps them; NaN is grey.
    func testRampColoursAndOrientation() throws {
        let dir = try scratch()
        let bins = 12, frames = 20
        var values = (0..<(bins * frames)).map { i in Float(i / frames) * 10 + Float(i % frames) }
        values[5 * frames + 7] = .nan
        let sheet = try SpectrogramSheet(title: "ramp", cells: [[Spectrogram(shape: [1, bins, frames], values: values)]], scale: 3)
        let range = try XCTUnwrap(sheet.range)
        XCTAssertEqual(range.low, 0)
        XCTAssertEqual(range.high, 129)
        let png = dir.appendingPathComponent("ramp.png")
        try Data(PNGEncoder.encode(sheet.render())).write(to: png)
        let layout = sheet.layout
        let origin = layout.cellOrigin(row: 0, column: 0)
        // Centre of the square drawn for (bin, frame): bin 0 is the bottom row of the cell.
        func point(_ bin: Int, _ frame: Int) -> (x: Int, y: Int, value: Double) {
            (origin.x + frame * 3 + 1, origin.y + (bins - 1 - bin) * 3 + 1, Double(bin * 10 + frame))
        }
        let points = [point(0, 0), point(bins - 1, frames - 1), point(0, frames - 1), point(bins - 1, 0),
                      point(3, 11), point(8, 2), point(6, 17)]
        // The title's "R" has ink in its top-left font pixel, drawn 2x at the padding.
        let title = (x: SpectrogramSheet.Layout.padding + 1, y: SpectrogramSheet.Layout.padding + 1, value: 0.0)
        let decoded = try decode(png, low: range.low, high: range.high, points: points + [title, point(5, 7)], in: dir)
        XCTAssertEqual(decoded.width, layout.width)
        XCTAssertEqual(decoded.height, layout.height)
        XCTAssertEqual(layout.cellWidth, frames * 3)
        XCTAssertEqual(layout.cellHeight, bins * 3)
        assertColors(Array(decoded.pixels.prefix(points.count)), Array(decoded.expected.prefix(points.count)), "ramp")
        XCTAssertEqual(decoded.pixels.last, [128, 128, 128], "NaN is grey")
        XCTAssertEqual(decoded.pixels[points.count], [20, 20, 20], "the title's ink")
        // The lowest value (bottom-left) is viridis' dark violet, the highest (top-right) its yellow.
        XCTAssertEqual(decoded.pixels[0], [68, 1, 84])
        XCTAssertEqual(decoded.pixels[1], [253, 231, 37])
    }

    /// A buffer too small for the first pass: libpng says how much it needs, the second
    /// pass writes the same file.
    func testEncoderGrowsItsBuffer() throws {
        let values = (0..<(40 * 30)).map { Float(($0 * 7919) % 101) }
        let image = try SpectrogramSheet(title: "noise", cells: [[Spectrogram(shape: [40, 30], values: values)]]).render()
        let once = try PNGEncoder.encode(image)
        XCTAssertEqual(try PNGEncoder.encode(image, initialCapacity: 64), once)
        XCTAssertEqual(Array(once.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "the PNG signature")
    }

    func testBadSpectrogramsAndSheetsAreRefused() throws {
        for shape in [[2, 4, 4], [16], [1, 1, 4, 4], [0, 5], [1, 3, 0]] {
            let count = shape.reduce(1, *)
            XCTAssertThrowsError(try Spectrogram(shape: shape, values: [Float](repeating: 0, count: count)), "\(shape)") { error in
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        let a = try Spectrogram(shape: [4, 4], values: [Float](repeating: 0, count: 16))
        let b = try Spectrogram(shape: [4, 5], values: [Float](repeating: 0, count: 20))
        XCTAssertThrowsError(try SpectrogramSheet(title: "", cells: [[a, b]]))
        XCTAssertThrowsError(try SpectrogramSheet(title: "", cells: [[a, a], [a]]))
        XCTAssertThrowsError(try SpectrogramSheet(title: "", rowLabels: ["x"], cells: [[a], [a]]))
        XCTAssertThrowsError(try SpectrogramSheet(title: "", cells: []))
    }

    // MARK: the command

    /// Inputs written by torch.save, made once: importing torch costs seconds.
    nonisolated(unsafe) static var inputs: URL?
    nonisolated(unsafe) static var inputsFailure: Error?

    override class func setUp() {
        super.setUp()
        do {
            let dir = try ReferenceHarness.makeScratchFolder(prefix: "pictures-inputs")
            inputs = dir
            try ReferenceHarness.python("png_reference.py", ["inputs", dir.path])
        } catch {
            inputsFailure = error
        }
    }

    override class func tearDown() {
        if let dir = inputs { try? FileManager.default.removeItem(at: dir) }
        super.tearDown()
    }

    func inputFolder() throws -> URL {
        if let failure = Self.inputsFailure { throw failure }
        return try XCTUnwrap(Self.inputs)
    }

    /// `inspect ramp.pt --png`: a torch.save'd [1, 240, 240] mel drawn 2x, its corners and
    /// inner points in matplotlib's colours.
    func testInspectDrawsAMelTensorFile() throws {
        let inputs = try inputFolder(), dir = try scratch()
        let png = dir.appendingPathComponent("ramp.png")
        let result = try ReferenceHarness.runCapturing(agent, ["inspect", inputs.appendingPathComponent("ramp.pt").path, "--png", png.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        let spectrogram = try Spectrogram(shape: [1, 240, 240], values: [Float](repeating: 0, count: 240 * 240))
        let layout = try SpectrogramSheet(title: "", cells: [[spectrogram]], scale: 2).layout
        let origin = layout.cellOrigin(row: 0, column: 0)
        func point(_ bin: Int, _ frame: Int) -> (x: Int, y: Int, value: Double) {
            (origin.x + frame * 2, origin.y + (239 - bin) * 2 + 1, Double(bin) + 0.25 * Double(frame) - 60)
        }
        let points = [point(0, 0), point(239, 239), point(0, 239), point(239, 0), point(100, 50), point(30, 200)]
        let decoded = try decode(png, low: -60, high: 238.75, points: points, in: dir)
        XCTAssertEqual(result.stdout, "\(png.path): \(decoded.width)x\(decoded.height) PNG, 1x1 spectrogram, -60.0 to 238.8 dB\n")
        XCTAssertEqual(decoded.height, layout.height)
        XCTAssertGreaterThanOrEqual(decoded.width, origin.x + 480)
        assertColors(decoded.pixels, decoded.expected, "ramp.pt")
    }

    /// `inspect SEGMENT --png`: 2 microphones x 2 sources in a grid, one shared scale.
    func testInspectDrawsASegmentFolderAsAGrid() throws {
        let inputs = try inputFolder(), dir = try scratch()
        let png = dir.appendingPathComponent("segment.png")
        let result = try ReferenceHarness.runCapturing(agent, ["inspect", inputs.appendingPathComponent("segment").path, "--png", png.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasSuffix("PNG, 2x2 spectrograms, -80.0 to 0.0 dB\n"), result.stdout)
        let cell = try Spectrogram(shape: [1, 24, 32], values: [Float](repeating: 0, count: 24 * 32))
        let layout = try SpectrogramSheet(title: "segment 7  start 2026-11-24T21:30:10.000Z",
                                          rowLabels: ["mic_0", "mic_1"], columnLabels: ["fan", "pump"],
                                          cells: [[cell, cell], [cell, cell]]).layout
        let values: [[Double]] = [[-80, -40], [-20, 0]]
        var points: [(x: Int, y: Int, value: Double)] = []
        for row in 0..<2 {
            for column in 0..<2 {
                let origin = layout.cellOrigin(row: row, column: column)
                points.append((origin.x + 16, origin.y + 12, values[row][column]))
                points.append((origin.x, origin.y + 23, values[row][column]))
            }
        }
        // The colour bar: its top row is the highest value, its bottom row the lowest.
        points.append((layout.barX + 8, layout.gridTop, 0))
        points.append((layout.barX + 8, layout.gridTop + layout.barHeight - 1, -80))
        let decoded = try decode(png, low: -80, high: 0, points: points, in: dir)
        XCTAssertEqual(decoded.width, layout.width)
        XCTAssertEqual(decoded.height, layout.height)
        assertColors(decoded.pixels, decoded.expected, "segment grid")
    }

    /// Bad input: one line on stderr, status 1, and no file (or leftover) at OUT.
    func testBadInputIsOneLineAndWritesNothing() throws {
        let inputs = try inputFolder(), dir = try scratch()
        let noRecord = dir.appendingPathComponent("not-a-segment")
        try FileManager.default.createDirectory(at: noRecord, withIntermediateDirectories: true)
        let incomplete = dir.appendingPathComponent("incomplete")
        try FileManager.default.copyItem(at: inputs.appendingPathComponent("segment"), to: incomplete)
        try FileManager.default.removeItem(at: incomplete.appendingPathComponent("mic_1/pump.pt"))
        let badRecord = dir.appendingPathComponent("bad-record")
        try FileManager.default.copyItem(at: inputs.appendingPathComponent("segment"), to: badRecord)
        try Data(#"{"channels": 2}"#.utf8).write(to: badRecord.appendingPathComponent("segment.json"))
        let vector = dir.appendingPathComponent("vector.npy")
        try TensorFile.write(Tensor(shape: [16], values: [Float](repeating: 1, count: 16)), to: vector.path)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let png = out.appendingPathComponent("x.png").path
        let cases: [(arguments: [String], mentions: String)] = [
            (["inspect", inputs.appendingPathComponent("stereo.pt").path, "--png", png], "[2, 8, 8]"),
            (["inspect", vector.path, "--png", png], "[16]"),
            (["inspect", noRecord.path, "--png", png], "segment.json"),
            (["inspect", incomplete.path, "--png", png], "mic_1/pump.pt"),
            (["inspect", badRecord.path, "--png", png], "no 'segment_index'"),
            (["inspect", dir.appendingPathComponent("missing.pt").path, "--png", png], "missing.pt"),
            (["inspect", inputs.appendingPathComponent("ramp.pt").path, "--png", "/nonexistent/folder/x.png"], "/nonexistent/folder/x.png"),
            (["inspect", inputs.appendingPathComponent("ramp.pt").path, "--png", out.path], out.path),
        ]
        for (arguments, mentions) in cases {
            let result = try ReferenceHarness.runCapturing(agent, arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertEqual(lines.count, 2, "one line: \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix("acoustic-edge: error: "), result.stderr)
            XCTAssertTrue(result.stderr.contains(mentions), "\(arguments): \(result.stderr)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [], "\(arguments) left a file")
        }
        let both = try ReferenceHarness.runCapturing(agent, ["inspect", "--json", "--png", png, inputs.appendingPathComponent("ramp.pt").path])
        XCTAssertEqual(both.status, 64, both.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: png))
        // Without --png a folder is still refused by the report as before.
        let folder = try ReferenceHarness.runCapturing(agent, ["inspect", noRecord.path])
        XCTAssertEqual(folder.status, 1, folder.stderr)
        XCTAssertTrue(folder.stderr.contains("a folder"), folder.stderr)
    }
}
