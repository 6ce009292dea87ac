import Foundation
import Testing
import TestSupport
import Tokenizer

/// `--tokens FILE`: ids given directly, as a JSON array or little-endian u32.
@Suite struct TokenFileTests {
    @Test func jsonArray() throws {
        #expect(try TokenFile.parse(Data("[1, 2, 49151]".utf8)) == [1, 2, 49151])
        #expect(try TokenFile.parse(Data("\n [ ]\n".utf8)) == [])
        #expect(try TokenFile.parse(Data("[0,\n 2147483647]\n".utf8)) == [0, Int32.max])
    }

    @Test func littleEndianU32() throws {
        let bytes: [UInt8] = [0x01, 0, 0, 0, 0xFF, 0xBF, 0, 0, 0x5B, 0, 0, 0]  // 1, 49151, 91 ("[")
        #expect(try TokenFile.parse(Data(bytes)) == [1, 49151, 91])
        #expect(try TokenFile.parse(Data()) == [])
        let ids: [Int32] = [0, 7, 128_000, 91, 93]
        #expect(try TokenFile.parse(TokenFile.binary(ids)) == ids)
    }

    @Test func readsAFile() throws {
        let folder = TemporaryFolder.make("tokenizer")
        let json = folder + "/ids.json"
        let bin = folder + "/ids.u32"
        try Data("[5,6,7]".utf8).write(to: URL(fileURLWithPath: json))
        try TokenFile.binary([5, 6, 7]).write(to: URL(fileURLWithPath: bin))
        #expect(try TokenFile.read(json) == [5, 6, 7])
        #expect(try TokenFile.read(bin) == [5, 6, 7])
        #expect(throws: TokenizerError.self) { try TokenFile.read(folder + "/missing") }
    }

    @Test(arguments: [
        ("[1, -2]", "element 1 is not a token id"),
        ("[1.5]", "element 0 is not a token id"),
        ("[2147483648]", "element 0 is not a token id"),
        ("[\"a\"]", "element 0 is not a token id"),
        ("[1, 2", "not a multiple of 4"),
        ("[1,]", "not JSON"),
        ("{\"a\":1}", "not a multiple of 4"),
    ])
    func rejects(_ text: String, _ message: String) {
        do {
            let ids = try TokenFile.parse(Data(text.utf8), file: "t.json")
            Issue.record("accepted \(text) as \(ids)")
        } catch let error as TokenizerError {
            #expect(error.file == "t.json")
            #expect(error.message.contains(message), "\(error)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func rejectsU32AboveInt32() {
        #expect(throws: TokenizerError.self) { try TokenFile.parse(Data([0, 0, 0, 0x80])) }
        #expect(throws: TokenizerError.self) { try TokenFile.parse(Data([1, 0, 0])) }
    }
}
