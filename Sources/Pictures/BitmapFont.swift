/// A 5x7 pixel font, drawn by hand for this module: digits, capital letters, a lower-case
/// `d` (for "dB") and the punctuation of timestamps, file names and numbers.
///
/// Why hand-made: the labels are short ASCII (source names, `mic_3`, `-80.0 dB`, an ISO 8601
/// start), and a font library (FreeType) would need a font file that an edge node does not
/// have, plus a rasteriser, for text that 50 tiny bitmaps draw exactly. Text is drawn in
/// capitals (the `d` glyph only serves the unit "dB", drawn case-sensitively); characters
/// without a glyph as `?`.
enum BitmapFont {
    /// Glyph width in font pixels.
    static let glyphWidth = 5
    /// Glyph height in font pixels.
    static let glyphHeight = 7
    /// Horizontal advance per character in font pixels (glyph plus one blank column).
    static let advance = 6

    /// The rows (top first) of each glyph, `#` for ink.
    static let glyphs: [Character: [String]] = [
        "0": [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
        "1": ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
        "2": [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
        "3": ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
        "4": ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
        "5": ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
        "6": ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
        "7": ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
        "8": [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
        "9": [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
        "A": [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
        "B": ["####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."],
        "C": [".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."],
        "D": ["###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."],
        "E": ["#####", "#....", "#....", "####.", "#....", "#....", "#####"],
        "F": ["#####", "#....", "#....", "####.", "#....", "#....", "#...."],
        "G": [".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"],
        "H": ["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
        "I": [".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."],
        "J": ["..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."],
        "K": ["#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"],
        "L": ["#....", "#....", "#....", "#....", "#....", "#....", "#####"],
        "M": ["#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"],
        "N": ["#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"],
        "O": [".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
        "P": ["####.", "#...#", "#...#", "####.", "#....", "#....", "#...."],
        "Q": [".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"],
        "R": ["####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"],
        "S": [".####", "#....", "#....", ".###.", "....#", "....#", "####."],
        "T": ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."],
        "U": ["#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
        "V": ["#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."],
        "W": ["#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."],
        "X": ["#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"],
        "Y": ["#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."],
        "Z": ["#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"],
        "d": ["....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"],
        " ": [".....", ".....", ".....", ".....", ".....", ".....", "....."],
        "-": [".....", ".....", ".....", "#####", ".....", ".....", "....."],
        "+": [".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."],
        ".": [".....", ".....", ".....", ".....", ".....", ".##..", ".##.."],
        ",": [".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."],
        ":": [".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."],
        "_": [".....", ".....", ".....", ".....", ".....", ".....", "#####"],
        "/": [".....", "....#", "...#.", "..#..", ".#...", "#....", "....."],
        "(": ["...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."],
        ")": [".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."],
        "=": [".....", ".....", "#####", ".....", "#####", ".....", "....."],
        "?": [".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."],
    ]

    /// Whether the glyph of `character` has ink at column `x`, row `y` (top-left origin).
    static func ink(_ character: Character, x: Int, y: Int) -> Bool {
        let rows = glyphs[character] ?? glyphs[Character(character.uppercased())] ?? glyphs["?"] ?? []
        guard y >= 0, y < rows.count else { return false }
        let row = Array(rows[y].utf8)
        return x >= 0 && x < row.count && row[x] == UInt8(ascii: "#")
    }

    /// The width in picture pixels of `text` drawn at `scale` (no trailing blank column).
    static func width(of text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : (text.count * advance - 1) * scale
    }
}

extension RGBImage {
    /// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a
    /// `scale` x `scale` square; whatever falls outside the picture is clipped. Letters are
    /// drawn as capitals unless `caseSensitive` (for "dB").
    mutating func draw(text: String, x: Int, y: Int, scale: Int, color: RGB, caseSensitive: Bool = false) {
        for (i, character) in (caseSensitive ? text : text.uppercased()).enumerated() {
            let left = x + i * BitmapFont.advance * scale
            for row in 0..<BitmapFont.glyphHeight {
                for column in 0..<BitmapFont.glyphWidth where BitmapFont.ink(character, x: column, y: row) {
                    fill(x: left + column * scale, y: y + row * scale, width: scale, height: scale, color)
                }
            }
        }
    }
}
