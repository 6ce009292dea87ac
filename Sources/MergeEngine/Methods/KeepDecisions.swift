import Glibc

/// The keep decisions of a tensor's random masks, one bit per element and model (bit `e mod 8`
/// of byte `e / 8` for element `e`), recorded by the rescale pass, which draws every element
/// anyway, so that the apply pass reads them instead of drawing them again. Pages are zeroed
/// on first touch (calloc), so a model whose decisions are never recorded costs no memory.
final class KeepDecisions: @unchecked Sendable {
    /// Per model: its bits, or nil for a model without a random mask.
    let bits: [UnsafeMutablePointer<UInt8>?]
    /// Set once every chunk's decisions are recorded (after the rescale pass, before the apply
    /// pass starts: the pass's join orders the writes before the reads).
    private(set) var complete = false

    init(randomModels: [Bool], count: Int) {
        let bytes = (count + 7) / 8
        bits = randomModels.map { random in
            guard random else { return nil }
            guard let memory = calloc(max(bytes, 1), 1) else { fatalError("out of memory for \(bytes) bytes of keep decisions") }
            return memory.assumingMemoryBound(to: UInt8.self)
        }
    }

    deinit { bits.forEach { free($0) } }

    /// Called when the rescale pass has recorded every chunk.
    func markComplete() { complete = true }
}
