import Foundation
import Testing
import TensorIO
import TestSupport

private func parse(_ text: String) throws(JSONError) -> JSONValue { try JSONParser.parse(text) }

private func isSyntaxError(_ text: String) -> Bool {
    do { _ = try parse(text); return false } catch { if case .syntax = error.kind { return true } else { return false } }
}

@Suite("The strict JSON parser")
struct JSONParserTests {
    @Test("duplicate keys are rejected with the key and its offset, at any depth")
    func duplicateKeys() {
        let error = #expect(throws: JSONError.self) { _ = try parse(#"{"a":1,"b":2,"a":3}"#) }
        #expect(error?.kind == .duplicateKey("a"))
        #expect(error?.offset == 13)
        let nested = #expect(throws: JSONError.self) { _ = try parse(#"[{"x":{"k":1,"k":1}}]"#) }
        #expect(nested?.kind == .duplicateKey("k"))
        // Keys equal only after unescaping are duplicates too.
        let escaped = #expect(throws: JSONError.self) { _ = try parse(#"{"é":1,"\u00e9":2}"#) }
        #expect(escaped?.kind == .duplicateKey("é"))
    }

    @Test("the same key in different objects is fine")
    func sameKeyInSiblingObjects() throws {
        let value = try parse(#"{"a":{"k":1},"b":{"k":2}}"#)
        #expect(value.objectValue?["b"]?.objectValue?["k"] == .number("2"))
    }

    @Test("nesting up to the depth limit parses; one level more is tooDeep", arguments: ["[", "{\"k\":"])
    func depthLimit(opener: String) throws {
        let closer = opener == "[" ? "]" : "}"
        func nested(_ depth: Int) -> String {
            String(repeating: opener, count: depth) + "1" + String(repeating: closer, count: depth)
        }
        // `maxDepth` containers hold a value at depth maxDepth, which is refused; one fewer is fine.
        _ = try parse(nested(JSONParser.maxDepth - 1))
        let error = #expect(throws: JSONError.self) { _ = try parse(nested(JSONParser.maxDepth)) }
        #expect(error?.kind == .tooDeep)
    }

    @Test("a hostile 1 000 000-deep document fails with tooDeep instead of exhausting the stack")
    func veryDeepDocument() {
        let text = String(repeating: "[", count: 1_000_000)
        let error = #expect(throws: JSONError.self) { _ = try parse(text) }
        #expect(error?.kind == .tooDeep)
    }

    @Test("string escapes decode, including surrogate pairs")
    func escapes() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""\u0041\u00e9\u20AC\u0000""#) == .string("Aé€\u{0}"))
        #expect(try parse(#""\uD83D\uDE00 \ud834\udd1e""#) == .string("😀 𝄞"))
        #expect(try parse("\"raw é 😀\"") == .string("raw é 😀"))
    }

    @Test("invalid strings are syntax errors", arguments: [
        #""\uD83D""#, #""\uD83Dx""#, #""\uD83D\u0041""#, #""\uDE00""#, #""\x""#, #""\u12G4""#, #""\u12""#,
        "\"a\u{1}b\"", "\"tab\there\"", #""unterminated"#, #""\"#,
    ])
    func invalidStrings(text: String) {
        #expect(isSyntaxError(text), "\(text.debugDescription) should be rejected")
    }

    @Test("numbers are kept as their exact source text", arguments: [
        "0", "-0", "1.50", "1e400", "-2.5E-3", "12345678901234567890123", "0.1000000000000000055511151231257827", "1E+2",
    ])
    func numbersKeptAsText(text: String) throws {
        #expect(try parse(text) == .number(text))
        #expect(try parse("[\(text)]").serialized() == "[\(text)]")
    }

    @Test("number accessors: integers only from plain digits, doubles from anything")
    func numberAccessors() throws {
        #expect(try parse("18446744073709551615").uint64Value == .max)
        #expect(try parse("18446744073709551616").uint64Value == nil)
        #expect(try parse("-5").uint64Value == nil)
        #expect(try parse("-5").int64Value == -5)
        #expect(try parse("5.0").int64Value == nil)
        #expect(try parse("1e400").doubleValue == .infinity)
        #expect(try parse("2.5").doubleValue == 2.5)
    }

    @Test("malformed numbers and literals are syntax errors", arguments: [
        "01", "1.", ".5", "+1", "-", "1e", "1e+", "--1", "0x10", "NaN", "Infinity", "tru", "nul", "falsey", "",
        "   ", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{1:2}", "{\"a\":1} {}", "'a'",
    ])
    func malformedDocuments(text: String) {
        #expect(isSyntaxError(text), "\(text.debugDescription) should be rejected")
    }

    @Test("whitespace around values is allowed and objects keep key order")
    func whitespaceAndOrder() throws {
        let value = try parse(" \n\t{ \"z\" : true , \"a\" : [ null , false ] }\r\n ")
        #expect(value.objectValue?.keys == ["z", "a"])
        #expect(value.objectValue?["a"] == .array([.null, .bool(false)]))
        #expect(value.objectValue?["z"]?.boolValue == true)
    }

    @Test("serialise then parse gives back the same value, compact and indented")
    func serialiseParseRoundTrip() throws {
        let value = JSONValue.object(JSONObject([
            "text": .string("quote \" backslash \\ slash / newline \n tab \t cr \r ctrl \u{1}\u{1F} é 😀 \u{2028}"),
            "numbers": .array([.integer(0), .integer(-7), .integer(UInt64.max), .number("1.25e-7"), .number("3.0"), .number("0.1")]),
            "nested": .object(JSONObject(["empty_array": .array([]), "empty_object": .object(JSONObject()), "null": .null])),
            "flags": .array([.bool(true), .bool(false)]),
            "": .string(""),
        ]))
        for indent in [0, 2, 4] {
            let text = value.serialized(indent: indent)
            #expect(try parse(text) == value, "indent \(indent)")
            // Foundation reads the same text too.
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil)
        }
        #expect(!value.serialized().contains("\n"))
    }

    @Test("500 random documents survive serialise → parse")
    func randomRoundTrip() throws {
        var rng = SplitMix64(seed: 2024)
        func randomString() -> String {
            let pool: [Unicode.Scalar] = ["a", "Z", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{7}", "é", "€", "😀", " ", "\u{FFFF}"]
            return String(String.UnicodeScalarView((0..<Int.random(in: 0...6, using: &rng)).map { _ in pool.randomElement(using: &rng)! }))
        }
        func randomValue(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 4 ? 5 : 7), using: &rng) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &rng))
            case 2: return .integer(Int64.random(in: .min ... .max, using: &rng))
            case 3: return .number(String(Double.random(in: -1e6...1e6, using: &rng)))
            case 4: return .string(randomString())
            case 5: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomValue(depth + 1) })
            default:
                var object = JSONObject()
                for i in 0..<Int.random(in: 0...4, using: &rng) { object[randomString() + String(i)] = randomValue(depth + 1) }
                return .object(object)
            }
        }
        for _ in 0..<500 {
            let value = randomValue(0)
            #expect(try parse(value.serialized()) == value)
            #expect(try parse(value.serialized(indent: 2)) == value)
        }
    }

    @Test("JSONObject subscript replaces, appends and removes keys")
    func objectSubscript() {
        var object = JSONObject(["a": .integer(1), "b": .integer(2)])
        object["a"] = .integer(3)
        object["c"] = .null
        object["b"] = nil
        object["missing"] = nil
        #expect(object.keys == ["a", "c"])
        #expect(object["a"] == .number("3"))
    }
}
