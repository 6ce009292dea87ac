/// How one token-embedding or head tensor's inputs are laid out in the output vocabulary
/// before they are merged (a tokenizer merge, `VocabularyMerge`): each input becomes a
/// `[rows, hidden]` tensor whose row of each output token is the input's own row of that
/// token, else the shared `fill` row, else zeros; rows past `tokens` (padding) are the mean
/// of that input's token rows. Part of the task (docs/protocol.md): a worker applies it.
public struct VocabularyRemap: Sendable, Codable, Equatable {
    /// An input's own rows: `[outputRow, inputRow, count]` runs.
    public struct OwnRows: Sendable, Codable, Equatable {
        public let model: Int
        public let spans: [[Int]]
    }

    /// A row for inputs that lack the token (or all inputs, when forced): the mean, in
    /// order, of the listed `[model, inputRow]` rows; none: zeros.
    public struct FillRow: Sendable, Codable, Equatable {
        public let row: Int
        public let from: [[Int]]
    }

    /// Output rows that hold tokens.
    public let tokens: Int
    /// Output rows in all (padding included).
    public let rows: Int
    public let own: [OwnRows]
    public let fill: [FillRow]

    /// Runs of `rowOf` (output row → input row, -1 for none).
    static func spans(_ rowOf: [Int]) -> [[Int]] {
        var spans: [[Int]] = []
        for (output, input) in rowOf.enumerated() where input >= 0 {
            if let last = spans.last, last[0] + last[2] == output, last[1] + last[2] == input {
                spans[spans.count - 1][2] += 1
            } else {
                spans.append([output, input, 1])
            }
        }
        return spans
    }
}
