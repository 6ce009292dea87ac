/// What a split does with the matches of its pattern (`tokenizers`' `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    /// The ranges `pieces` become, empty ones dropped.
    func apply(_ pieces: [(range: Range<String.Index>, isMatch: Bool)]) -> [Range<String.Index>] {
        var out: [(range: Range<String.Index>, isMatch: Bool)] = []
        switch self {
        case .removed:
            out = pieces.filter { !$0.isMatch }
        case .isolated:
            out = pieces
        case .mergedWithPrevious:
            var previousMatch = false
            for piece in pieces {
                if piece.isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1].range = last.range.lowerBound..<piece.range.upperBound
                } else {
                    out.append(piece)
                }
                previousMatch = piece.isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for piece in pieces.reversed() {
                if piece.isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1].range = piece.range.lowerBound..<last.range.upperBound
                } else {
                    out.append(piece)
                }
                previousMatch = piece.isMatch
            }
            out.reverse()
        case .contiguous:
            var previousMatch = false
            for piece in pieces {
                if piece.isMatch == previousMatch, let last = out.last {
                    out[out.count - 1].range = last.range.lowerBound..<piece.range.upperBound
                } else {
                    out.append(piece)
                }
                previousMatch = piece.isMatch
            }
        }
        return out.map(\.range).filter { !$0.isEmpty }
    }
}
