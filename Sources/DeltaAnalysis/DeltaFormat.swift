import Foundation
import TensorIO

/// How the analysis writes numbers for people (tables) and scripts (JSON).
enum DeltaFormat {
    /// Four significant digits (`0.004987`, `1.2e-05`); "—" for nil or not finite.
    static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "—" }
        return value == 0 ? "0" : String(format: "%.4g", value)
    }

    /// A share as a percentage with two decimals; "—" for nil.
    static func percent(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "—" }
        return String(format: "%.2f%%", value * 100)
    }
}
