/// A growable, 64-byte aligned scratch array for numeric kernels: grows to the largest size
/// asked for and is reused, so steady-state processing allocates nothing. The alignment
/// suits FFTW's new-array execute functions (they need the plan's SIMD alignment) and AVX-512.
///
/// Owned by one workspace, used by one thread at a time; `release()` frees it.
struct Scratch<Element> {
    private(set) var pointer: UnsafeMutablePointer<Element>?
    private(set) var capacity = 0

    /// A buffer of at least `count` elements; the contents are unspecified after a growth.
    mutating func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if let pointer, count <= capacity { return pointer }
        release()
        let n = max(count, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Element>.stride, alignment: 64)
        let typed = raw.bindMemory(to: Element.self, capacity: n)
        pointer = typed
        capacity = n
        return typed
    }

    /// Frees the memory.
    mutating func release() {
        if let pointer { UnsafeMutableRawPointer(pointer).deallocate() }
        pointer = nil
        capacity = 0
    }
}

/// Rounds `count` floats up to a multiple of 16 (64 bytes), so rows of a matrix stay aligned.
@inline(__always)
func alignedStride(_ count: Int) -> Int { (count + 15) & ~15 }
