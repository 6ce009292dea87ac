/// Why a model cannot be evaluated, or why the inputs do not fit it: one readable line.
public struct EvalError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
