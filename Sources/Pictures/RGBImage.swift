/// An 8-bit RGB picture, rows top to bottom, three bytes per pixel, drawn into by the
/// renderers of this module.
public struct RGBImage: Sendable, Equatable {
    /// Pixels per row.
    public let width: Int
    /// Rows.
    public let height: Int
    /// `width * height * 3` bytes, row-major from the top-left pixel.
    public var pixels: [UInt8]

    /// A picture of `width` x `height` filled with `background`.
    public init(width: Int, height: Int, background: RGB = .white) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, background)
    }

    /// The colour at (`x`, `y`), top-left origin.
    public func pixel(x: Int, y: Int) -> RGB {
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Sets one pixel; points outside the picture are ignored (text is clipped, never a crash).
    mutating func set(x: Int, y: Int, _ color: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = color.red
        pixels[i + 1] = color.green
        pixels[i + 2] = color.blue
    }

    /// Fills a rectangle (clipped to the picture).
    mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ color: RGB) {
        for row in max(0, y)..<max(max(0, y), min(height, y + h)) {
            for column in max(0, x)..<max(max(0, x), min(width, x + w)) {
                set(x: column, y: row, color)
            }
        }
    }
}

/// An 8-bit RGB colour.
public struct RGB: Sendable, Equatable, CustomStringConvertible {
    /// Red, 0...255.
    public var red: UInt8
    /// Green, 0...255.
    public var green: UInt8
    /// Blue, 0...255.
    public var blue: UInt8

    /// The colour (`red`, `green`, `blue`).
    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// White.
    public static let white = RGB(255, 255, 255)
    /// Black.
    public static let black = RGB(0, 0, 0)

    /// `(r, g, b)`.
    public var description: String { "(\(red), \(green), \(blue))" }
}
