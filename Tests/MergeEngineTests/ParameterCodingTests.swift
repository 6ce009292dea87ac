import Foundation
import MergeEngine
import Testing

/// Parameter values in JSON are what a person writes (docs/protocol.md §4.3): plain numbers,
/// booleans and strings, arrays for gradients and lists, {filter, value} objects; never
/// Swift's synthesized `{"number":{"_0":x}}`.
@Suite struct ParameterCodingTests {
    func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("a resolved value is the plain JSON value and reads back exactly")
    func resolvedValues() throws {
        let cases: [(ResolvedValue, String)] = [
            (.number(0.5), "0.5"), (.number(1), "1"), (.number(-3), "-3"), (.number(0.1), "0.1"), (.number(1e-300), "1e-300"),
            (.number(0.30000000000000004), "0.30000000000000004"), (.bool(true), "true"), (.bool(false), "false"),
            (.string("sum"), "\"sum\""), (.string("1"), "\"1\""),
        ]
        for (value, text) in cases {
            #expect(try json([value]) == "[\(text)]", "\(value)")
            #expect(try JSONDecoder().decode([ResolvedValue].self, from: Data("[\(text)]".utf8)) == [value], "\(text)")
        }
        // Numbers read back bit for bit, whatever their digits.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let x = Double(bitPattern: generator.next() & 0x7FEF_FFFF_FFFF_FFFF)
            #expect(try JSONDecoder().decode([ResolvedValue].self, from: Data(try json([ResolvedValue.number(x)]).utf8)) == [.number(x)])
        }
        for bad in ["null", "[1]", "{\"number\":{\"_0\":1}}", "{}"] {
            #expect(throws: DecodingError.self, "\(bad)") { try JSONDecoder().decode([ResolvedValue].self, from: Data("[\(bad)]".utf8)) }
        }
    }

    @Test("a config value is written as in the config: scalars, gradients, lists and filter lists, read back the same")
    func parameterValues() throws {
        let cases: [(ParameterValue, String)] = [
            (.number(0.25), "0.25"), (.bool(false), "false"), (.string("x"), "\"x\""),
            (.gradient([0, 0.5, 1]), "[0,0.5,1]"),
            (.list([.string("a"), .number(2), .bool(true)]), "[\"a\",2,true]"),
            (.filtered([.init(filter: "self_attn", value: .gradient([0, 1])), .init(filter: "mlp", value: .number(0.5)),
                        .init(filter: nil, value: .number(0.3))]),
             "[{\"filter\":\"self_attn\",\"value\":[0,1]},{\"filter\":\"mlp\",\"value\":0.5},{\"value\":0.3}]"),
        ]
        for (value, text) in cases {
            #expect(try json(value) == text, "\(value)")
            #expect(try JSONDecoder().decode(ParameterValue.self, from: Data(text.utf8)) == value, "\(text)")
        }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ParameterValue.self, from: Data("[]".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ParameterValue.self, from: Data("null".utf8)) }
    }
}
