/// What Block Influence compares for the last block: the two definitions in use.
///
/// - `residual` (the default; ShortGPT's paper): for every block i, h_in is the residual stream
///   entering it and h_out the stream leaving it, before any final norm.
/// - `hiddenStates` (ShortGPT's published code): h_in and h_out are transformers'
///   `output_hidden_states` entries i and i + 1. They are the residual stream except the last,
///   which transformers takes after the model's final norm; so only the last block's score
///   differs: it compares the stream entering it with the final-norm output.
public enum LayerScoreInput: String, Sendable, CaseIterable {
    case residual
    case hiddenStates = "hidden-states"
}

enum BlockInfluence {
    /// Sum over positions `rows ∩ scored` of cos(x[p], y[p]) for rows of `h` floats (Float64).
    static func cosineSum(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, h: Int, rows: Range<Int>, scored: Range<Int>) -> Double {
        var sum: Double = 0
        for p in rows where scored.contains(p) {
            sum += cosine(x + p * h, y + p * h, h)
        }
        return sum
    }

    static func cosine(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ h: Int) -> Double {
        var dot: Double = 0, xx: Double = 0, yy: Double = 0
        for i in 0..<h {
            dot += Double(x[i]) * Double(y[i]); xx += Double(x[i]) * Double(x[i]); yy += Double(y[i]) * Double(y[i])
        }
        let denominator = (xx * yy).squareRoot()
        return denominator > 0 ? dot / denominator : 0
    }
}
