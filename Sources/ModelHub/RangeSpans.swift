/// The requests that read a set of byte ranges of one file: ranges longer than `limit` are
/// cut into pieces of at most `limit` bytes, and pieces at most `gap` bytes apart are read by
/// one request as long as it stays within `limit` bytes (the bytes between them are read and
/// dropped). Every byte of every range lies in exactly one span's parts.
struct RangeSpans {
    /// A piece of caller range `range`: file bytes `file`, which start `offset` bytes into it.
    struct Part: Equatable {
        let range: Int
        let file: Range<Int>
        let offset: Int
    }

    /// One request: file bytes `file`, delivering `parts` (sorted by start).
    struct Span: Equatable {
        var file: Range<Int>
        var parts: [Part]
    }

    let spans: [Span]

    init(_ ranges: [Range<Int>], gap: Int, limit: Int) {
        precondition(gap >= 0 && limit > 0)
        var pieces: [Part] = []
        for (index, range) in ranges.enumerated() {
            for start in stride(from: range.lowerBound, to: range.upperBound, by: limit) {
                pieces.append(Part(range: index, file: start..<min(start + limit, range.upperBound), offset: start - range.lowerBound))
            }
        }
        pieces.sort { ($0.file.lowerBound, $0.file.upperBound) < ($1.file.lowerBound, $1.file.upperBound) }
        var spans: [Span] = []
        for piece in pieces {
            if let last = spans.last, piece.file.lowerBound <= last.file.upperBound + gap,
               max(last.file.upperBound, piece.file.upperBound) - last.file.lowerBound <= limit {
                spans[spans.count - 1].file = last.file.lowerBound..<max(last.file.upperBound, piece.file.upperBound)
                spans[spans.count - 1].parts.append(piece)
            } else {
                spans.append(Span(file: piece.file, parts: [piece]))
            }
        }
        self.spans = spans
    }
}
