import CVectorKernels

/// One pass of exact top-k selection by a sampled bracket (`LargestSelector`): of a chunk's
/// keys, how many lie above the bracket, and which lie inside it.
public enum KeyBracket {
    /// Counts the keys above `bracket` and copies those inside it, in order, to the front of
    /// `collected` (at least `keys.count` slots; slots past the result are overwritten).
    /// AVX2 where the CPU has it (eight keys a step, packed by a permutation), else
    /// `baselineSplit`: the same counts and keys either way.
    public static func split(_ keys: UnsafeBufferPointer<UInt32>, _ bracket: ClosedRange<UInt32>,
                             into collected: UnsafeMutableBufferPointer<UInt32>) -> (above: Int, inside: Int) {
        precondition(collected.count >= keys.count, "room for every key")
        guard crucible_use_avx2() != 0, let base = keys.baseAddress else { return baselineSplit(keys, bracket, into: collected) }
        var above = 0
        let inside = crucible_bracket_avx2(base, keys.count, bracket.lowerBound, bracket.upperBound, collected.baseAddress!, &above)
        return (above, inside)
    }

    /// The baseline path of `split`: branch-free, one key at a time (always store, advance only
    /// for a key inside the bracket).
    public static func baselineSplit(_ keys: UnsafeBufferPointer<UInt32>, _ bracket: ClosedRange<UInt32>,
                                     into collected: UnsafeMutableBufferPointer<UInt32>) -> (above: Int, inside: Int) {
        let low = bracket.lowerBound, width = bracket.upperBound &- low
        var above = 0, count = 0
        for key in keys {
            let offset = key &- low
            above &+= Int(bit(key > low && offset > width))
            collected[count] = key
            count &+= Int(bit(offset <= width))
        }
        return (above, count)
    }
}
