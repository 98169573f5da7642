import CPNG

/// A picture failed to be made; one line naming what is wrong.
public struct PictureError: Error, CustomStringConvertible, Sendable {
    /// The one-line reason.
    public var description: String

    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

/// PNG encoding by libpng.
///
/// Why libpng and not a hand-made writer on zlib: libpng is the field's reference encoder
/// (filters, chunk CRCs, the zlib stream all done right and fuzzed for decades), and its
/// "simplified" `png_image_*` API (1.6.x) returns errors as a value. Its classic API reports
/// errors with `longjmp`, which must never cross Swift frames; the simplified one does the
/// `setjmp` inside libpng, so nothing jumps out of it. No libpng handle outlives a call, so
/// there is no C handle class here.
public enum PNGEncoder {
    /// The PNG bytes of `image` (8-bit RGB, no interlace).
    public static func encode(_ image: RGBImage) throws(PictureError) -> [UInt8] {
        try encode(image, initialCapacity: nil)
    }

    /// `encode(_:)` starting from a buffer of `initialCapacity` bytes (tests use a small one
    /// to exercise the second pass).
    static func encode(_ image: RGBImage, initialCapacity: Int?) throws(PictureError) -> [UInt8] {
        guard image.width > 0, image.height > 0,
              image.width <= Int(Int32.max) / 3, image.height <= Int(Int32.max) else {
            throw PictureError("cannot encode a \(image.width)x\(image.height) picture")
        }
        let stride = Int32(image.width * 3)
        // One pass into a buffer that fits any compressible-or-not picture (the raw filtered
        // rows plus zlib's and PNG's worst-case overhead, as libpng's PNG_IMAGE_PNG_SIZE_MAX
        // reckons it); should libpng still need more, it says how much and we write again.
        let raw = image.height * (image.width * 3 + 1)
        var capacity = initialCapacity ?? (raw + raw / 8 + raw / 64 + 12 * (raw / 8192 + 1) + 1024)
        var reason = "libpng gave no reason"
        for _ in 0..<2 {
            // A fresh description per pass: a failed write leaves its error state in it.
            var description = png_image()
            description.version = UInt32(PNG_IMAGE_VERSION)
            description.width = UInt32(image.width)
            description.height = UInt32(image.height)
            description.format = UInt32(PNG_FORMAT_RGB)
            var bytes = [UInt8](repeating: 0, count: capacity)
            var size = png_alloc_size_t(capacity)
            let written = bytes.withUnsafeMutableBytes { out in
                image.pixels.withUnsafeBytes { pixels in
                    png_image_write_to_memory(&description, out.baseAddress, &size, 0, pixels.baseAddress, stride, nil)
                }
            }
            if written != 0 {
                png_image_free(&description)
                return Array(bytes.prefix(Int(size)))
            }
            reason = message(of: &description)
            png_image_free(&description)
            guard Int(size) > capacity else { break }
            capacity = Int(size)
        }
        throw PictureError("PNG encoding failed: \(reason)")
    }

    /// libpng's error text, kept in the fixed `message` array of the image description.
    private static func message(of description: inout png_image) -> String {
        withUnsafeBytes(of: &description.message) { raw in
            let chars = raw.prefix { $0 != 0 }
            return chars.isEmpty ? "libpng gave no reason" : String(decoding: chars, as: UTF8.self)
        }
    }
}
