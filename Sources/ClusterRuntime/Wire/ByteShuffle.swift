/// Byte-plane shuffling ("blosc shuffle"): `n` elements of `width` bytes become `width`
/// planes of `n` bytes, plane j holding byte j of every element. Neural-network weights do
/// not compress as they are (LZ4 ratio ≈ 1.0), but their high-order planes (sign and
/// exponent) are highly repetitive, so LZ4 does compress the shuffled bytes.
public enum ByteShuffle {
    /// Splits `source` (a whole number of `width`-byte elements) into planes in `destination`.
    public static func shuffle(_ source: UnsafeRawBufferPointer, width: Int, into destination: UnsafeMutableRawBufferPointer) {
        precondition(width > 0 && source.count % width == 0 && destination.count == source.count)
        let n = source.count / width
        for j in 0..<width {
            for i in 0..<n { destination[j * n + i] = source[i * width + j] }
        }
    }

    /// Reassembles elements from planes (the inverse of `shuffle`).
    public static func unshuffle(_ source: UnsafeRawBufferPointer, width: Int, into destination: UnsafeMutableRawBufferPointer) {
        precondition(width > 0 && source.count % width == 0 && destination.count == source.count)
        let n = source.count / width
        for j in 0..<width {
            for i in 0..<n { destination[i * width + j] = source[j * n + i] }
        }
    }
}
