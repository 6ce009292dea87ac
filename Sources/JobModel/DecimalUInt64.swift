/// A 64-bit unsigned value (a checksum, a header digest, a seed) as CWP/2 carries it in
/// JSON: a string of its decimal digits, e.g. `"18446744073709551615"`, never a JSON number,
/// which many JSON libraries read as an IEEE double and round above 2⁵³
/// (docs/protocol.md §3).
///
/// Decoding accepts only a JSON string of 1 to 20 ASCII digits, without sign, spaces or
/// leading zeros (`"0"` itself is fine), whose value fits in 64 bits; anything else, a JSON
/// number included, is a `DecodingError` that says what was expected.
@propertyWrapper
public struct DecimalUInt64: Codable, Hashable, Sendable {
    public var wrappedValue: UInt64

    public init(wrappedValue: UInt64) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let text = try? container.decode(String.self) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "a 64-bit value must be a JSON string of decimal digits (e.g. \"42\"), not a number or any other JSON value")
        }
        guard let value = Self.parse(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\"\(text.prefix(40))\" is not a 64-bit unsigned decimal (digits only, no sign or leading zero, at most 18446744073709551615)")
        }
        wrappedValue = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(wrappedValue))
    }

    /// The value of `text` in its canonical form (what `encode` writes), else nil.
    public static func parse(_ text: String) -> UInt64? {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= 20, utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              utf8.count == 1 || utf8.first != 0x30 else { return nil }
        return UInt64(text)
    }
}
