import Glibc

/// The keep decisions of a tensor's masks, one bit per element and model (bit `e mod 8` of
/// byte `e / 8` for element `e`): a random mask's, recorded by the rescale pass, which draws
/// every element anyway, so that the apply pass reads them instead of drawing them again; a
/// `torchOrder` mask's, recorded before any pass. Pages are zeroed on first touch (calloc), so
/// a model whose decisions are never recorded costs no memory.
final class KeepDecisions: @unchecked Sendable {
    /// Per model: its bits, or nil for a model whose mask is not recorded.
    let bits: [UnsafeMutablePointer<UInt8>?]
    /// Set once every chunk's random decisions are recorded (after the rescale pass, before the
    /// apply pass starts: the pass's join orders the writes before the reads).
    private(set) var complete = false

    init(models: [Bool], count: Int) {
        let bytes = (count + 7) / 8
        bits = models.map { recorded in
            guard recorded else { return nil }
            guard let memory = calloc(max(bytes, 1), 1) else { fatalError("out of memory for \(bytes) bytes of keep decisions") }
            return memory.assumingMemoryBound(to: UInt8.self)
        }
    }

    deinit { bits.forEach { free($0) } }

    /// Called when the rescale pass has recorded every chunk.
    func markComplete() { complete = true }
}
