import Foundation

/// A mel spectrogram to draw: `bins` mel bins of `frames` values each, bin-major (the layout
/// of a `[1, n_mels, frames]` or `[n_mels, frames]` tensor), in dB.
public struct Spectrogram: Sendable {
    /// Mel bins (picture rows; bin 0 is drawn at the bottom).
    public let bins: Int
    /// Time frames (picture columns, left to right).
    public let frames: Int
    /// `bins * frames` values, bin-major.
    public let values: [Float]

    /// The spectrogram of a tensor of `shape` `[1, bins, frames]` or `[bins, frames]`; any
    /// other shape is refused with a one-line reason.
    public init(shape: [Int], values: [Float]) throws(PictureError) {
        let dims: [Int]
        switch shape.count {
        case 3 where shape[0] == 1: dims = Array(shape.dropFirst())
        case 2: dims = shape
        default:
            throw PictureError("shape \(shape) is not a mel spectrogram (expected [1, n_mels, frames] or [n_mels, frames])")
        }
        guard dims[0] > 0, dims[1] > 0 else { throw PictureError("shape \(shape) is empty: nothing to draw") }
        guard dims[0] <= 4096, dims[1] <= 4096 else {
            throw PictureError("shape \(shape) is too large to draw (at most 4096 x 4096)")
        }
        guard values.count == dims[0] * dims[1] else {
            throw PictureError("shape \(shape) needs \(dims[0] * dims[1]) values, got \(values.count)")
        }
        bins = dims[0]
        frames = dims[1]
        self.values = values
    }
}

/// A sheet of spectrograms for a person to look at: a title, a grid of heat maps (rows and
/// columns labelled, e.g. microphones x sources) and one shared dB colour scale (viridis),
/// its ends labelled. In every heat map mel bins run upwards (low frequencies at the bottom)
/// and time runs left to right, as in torchaudio/librosa plots.
public struct SpectrogramSheet: Sendable {
    /// The line on top (what the sheet shows: a file name, a segment's start).
    public var title: String
    /// One label per row (left of the row), or none.
    public var rowLabels: [String]
    /// One label per column (above it), or none.
    public var columnLabels: [String]
    /// The heat maps, `cells[row][column]`, all of one shape.
    public var cells: [[Spectrogram]]
    /// Picture pixels per tensor value along each axis (1 draws a 240x240 mel in 240x240).
    public var scale: Int

    /// A sheet; refuses a ragged grid, mixed shapes, labels that do not match the grid, or a
    /// picture over 16384 pixels wide or high.
    public init(title: String, rowLabels: [String] = [], columnLabels: [String] = [],
                cells: [[Spectrogram]], scale: Int = 1) throws(PictureError) {
        guard let first = cells.first?.first else { throw PictureError("no spectrogram to draw") }
        guard cells.allSatisfy({ $0.count == cells[0].count }) else { throw PictureError("the grid of spectrograms is ragged") }
        for row in cells {
            for cell in row where cell.bins != first.bins || cell.frames != first.frames {
                throw PictureError("spectrograms of different shapes ([\(first.bins), \(first.frames)] and [\(cell.bins), \(cell.frames)]) cannot share a grid")
            }
        }
        guard rowLabels.isEmpty || rowLabels.count == cells.count,
              columnLabels.isEmpty || columnLabels.count == cells[0].count else {
            throw PictureError("\(rowLabels.count) row and \(columnLabels.count) column labels for a \(cells.count)x\(cells[0].count) grid")
        }
        guard (1...16).contains(scale) else { throw PictureError("scale \(scale) is out of 1...16") }
        self.title = title
        self.rowLabels = rowLabels
        self.columnLabels = columnLabels
        self.cells = cells
        self.scale = scale
        let size = layout
        guard size.width <= 16384, size.height <= 16384 else {
            throw PictureError("the picture would be \(size.width)x\(size.height) pixels (at most 16384 each way)")
        }
    }

    /// The colour scale: smallest and largest finite value over all cells (nil when there is
    /// none). NaN is drawn grey, +inf/-inf take the scale's ends.
    public var range: (low: Double, high: Double)? {
        var low = Float.infinity, high = -Float.infinity
        for row in cells {
            for cell in row {
                for v in cell.values where v.isFinite {
                    low = min(low, v)
                    high = max(high, v)
                }
            }
        }
        return low <= high ? (Double(low), Double(high)) : nil
    }

    /// The colour of NaN values (not on the viridis scale).
    public static let notANumber = RGB(128, 128, 128)

    /// Where everything goes, in picture pixels (top-left origin).
    struct Layout {
        static let textScale = 2
        static let textHeight = BitmapFont.glyphHeight * textScale
        static let padding = 12
        static let gap = 8
        static let barWidth = 16

        var width = 0, height = 0
        var titleY = 0, headerY = 0
        var gridLeft = 0, gridTop = 0
        var cellWidth = 0, cellHeight = 0
        var barX = 0, barHeight = 0, barLabelX = 0

        /// The top-left pixel of cell (`row`, `column`).
        func cellOrigin(row: Int, column: Int) -> (x: Int, y: Int) {
            (gridLeft + column * (cellWidth + Layout.gap), gridTop + row * (cellHeight + Layout.gap))
        }
    }

    /// The scale's end labels, e.g. "-80.0 dB".
    var scaleLabels: (low: String, high: String) {
        guard let range else { return ("NO DATA", "NO DATA") }
        return (String(format: "%.1f dB", range.low), String(format: "%.1f dB", range.high))
    }

    var layout: Layout {
        typealias L = Layout
        var l = Layout()
        let rows = cells.count, columns = cells[0].count
        l.cellWidth = cells[0][0].frames * scale
        l.cellHeight = cells[0][0].bins * scale
        l.titleY = L.padding
        var y = L.padding + L.textHeight + 10
        if !columnLabels.isEmpty {
            l.headerY = y
            y += L.textHeight + 6
        }
        l.gridTop = y
        let labelWidth = rowLabels.map { BitmapFont.width(of: $0, scale: L.textScale) }.max().map { $0 + 10 } ?? 0
        l.gridLeft = L.padding + labelWidth
        let gridWidth = columns * l.cellWidth + (columns - 1) * L.gap
        let gridHeight = rows * l.cellHeight + (rows - 1) * L.gap
        l.barX = l.gridLeft + gridWidth + 16
        l.barHeight = max(gridHeight, 3 * L.textHeight)
        l.barLabelX = l.barX + L.barWidth + 10
        let labels = scaleLabels
        let labelWidth2 = max(BitmapFont.width(of: labels.low, scale: L.textScale),
                              BitmapFont.width(of: labels.high, scale: L.textScale))
        l.width = max(l.barLabelX + labelWidth2 + L.padding,
                      2 * L.padding + BitmapFont.width(of: title, scale: L.textScale))
        l.height = l.gridTop + l.barHeight + L.padding
        return l
    }

    /// Draws the sheet.
    public func render() -> RGBImage {
        typealias L = Layout
        let l = layout
        var image = RGBImage(width: l.width, height: l.height)
        let (low, high) = range ?? (0, 0)
        let ink = RGB(20, 20, 20)
        image.draw(text: title, x: L.padding, y: l.titleY, scale: L.textScale, color: ink)
        let maxCharacters = max(1, (l.cellWidth + L.textScale) / (BitmapFont.advance * L.textScale))
        for (column, label) in columnLabels.enumerated() {
            let origin = l.cellOrigin(row: 0, column: column)
            image.draw(text: String(label.prefix(maxCharacters)), x: origin.x, y: l.headerY, scale: L.textScale, color: ink)
        }
        for (row, label) in rowLabels.enumerated() {
            let origin = l.cellOrigin(row: row, column: 0)
            let y = origin.y + max(0, (l.cellHeight - L.textHeight) / 2)
            image.draw(text: label, x: L.padding, y: y, scale: L.textScale, color: ink)
        }
        // The heat maps: mel bin b at the picture row counted from the cell's bottom.
        for (row, line) in cells.enumerated() {
            for (column, cell) in line.enumerated() {
                let origin = l.cellOrigin(row: row, column: column)
                for bin in 0..<cell.bins {
                    let top = origin.y + (cell.bins - 1 - bin) * scale
                    for frame in 0..<cell.frames {
                        let v = cell.values[bin * cell.frames + frame]
                        let color = v.isNaN ? Self.notANumber : Viridis.color(Double(v), low: low, high: high)
                        image.fill(x: origin.x + frame * scale, y: top, width: scale, height: scale, color)
                    }
                }
            }
        }
        // The colour bar: the top row is the highest value, the bottom row the lowest.
        for r in 0..<l.barHeight {
            let value = l.barHeight > 1 ? high - (high - low) * Double(r) / Double(l.barHeight - 1) : high
            image.fill(x: l.barX, y: l.gridTop + r, width: L.barWidth, height: 1, Viridis.color(value, low: low, high: high))
        }
        image.fill(x: l.barX + L.barWidth, y: l.gridTop, width: 4, height: 2, ink)
        image.fill(x: l.barX + L.barWidth, y: l.gridTop + l.barHeight - 2, width: 4, height: 2, ink)
        let labels = scaleLabels
        image.draw(text: labels.high, x: l.barLabelX, y: l.gridTop, scale: L.textScale, color: ink, caseSensitive: true)
        image.draw(text: labels.low, x: l.barLabelX, y: l.gridTop + l.barHeight - L.textHeight, scale: L.textScale, color: ink, caseSensitive: true)
        return image
    }
}
