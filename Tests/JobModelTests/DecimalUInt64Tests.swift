import Foundation
import JobModel
import Testing

/// 64-bit values travel as decimal strings (docs/protocol.md §3): exact at every value, and
/// anything but the canonical string is refused with a reason.
@Suite struct DecimalUInt64Tests {
    struct Carrier: Codable, Equatable {
        @DecimalUInt64 var value: UInt64
    }

    @Test("encodes as a decimal JSON string and reads back exactly, 0 and 2^64-1 included")
    func roundTrip() throws {
        for value: UInt64 in [0, 1, 42, 1 << 53, (1 << 53) + 1, 0xEF46_DB37_51D8_E999, .max] {
            let json = try JSONEncoder().encode(Carrier(value: value))
            #expect(String(decoding: json, as: UTF8.self) == "{\"value\":\"\(value)\"}")
            #expect(try JSONDecoder().decode(Carrier.self, from: json).value == value)
        }
    }

    @Test("a JSON number, a signed, padded, hexadecimal or too large string is refused with a reason",
          arguments: ["42", "9007199254740993", "\"-1\"", "\"+1\"", "\"007\"", "\" 7\"", "\"0x2a\"", "\"\"", "\"1.0\"",
                      "\"18446744073709551616\"", "\"99999999999999999999\"", "null", "true", "[\"1\"]"])
    func refused(_ literal: String) throws {
        do {
            _ = try JSONDecoder().decode(Carrier.self, from: Data("{\"value\":\(literal)}".utf8))
            Issue.record("\(literal) was accepted")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains("64-bit"), "\(context.debugDescription)")
        } catch {
            Issue.record("\(literal): unexpected \(error)")
        }
    }
}
