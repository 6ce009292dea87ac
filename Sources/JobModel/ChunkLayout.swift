/// How a payload of `total` bytes is cut into wire chunks (docs/protocol.md §4): chunk k
/// covers [k·size, min((k+1)·size, total)). RESULT and INPUT chunks, their checksums and
/// the journal's part digests all follow this one rule.
public struct ChunkLayout: Sendable, Equatable {
    /// Bytes per chunk (uncompressed); the last chunk of a payload may be shorter.
    public let size: Int

    public init(size: Int) {
        precondition(size > 0, "a chunk size is positive")
        self.size = size
    }

    /// Chunks in a payload of `total` bytes (none for an empty one).
    public func count(_ total: Int) -> Int { (total + size - 1) / size }

    /// The byte ranges of a payload of `total` bytes, in order.
    public func ranges(_ total: Int) -> [Range<Int>] {
        stride(from: 0, to: total, by: size).map { $0..<min(total, $0 + size) }
    }

    /// The range of the chunk starting at `offset`, or nil when no chunk starts there.
    public func range(at offset: Int, of total: Int) -> Range<Int>? {
        guard offset >= 0, offset < total, offset % size == 0 else { return nil }
        return offset..<min(total, offset + size)
    }
}
