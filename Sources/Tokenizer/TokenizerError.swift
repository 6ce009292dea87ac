/// Why a tokenizer could not be loaded, or a token file read.
public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file the problem is in (tokenizer.json, tokenizer_config.json, a token file).
    public let file: String
    /// What is wrong, in words.
    public let message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
