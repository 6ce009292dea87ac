import Foundation
import TensorIO

/// Token ids given directly (`--tokens FILE`) for texts the tokenizer does not cover: a JSON
/// array of integers (`[1, 2, 3]`), or the ids as little-endian unsigned 32-bit integers.
///
/// A file is JSON when its first and last non-whitespace bytes are `[` and `]`; anything else
/// is read as u32 values (its size must be a multiple of 4). The binary form cannot be mistaken
/// for JSON for any vocabulary under 2^24 tokens: the last byte of such a file is 0.
public enum TokenFile {
    /// The ids in the file at `path`.
    public static func read(_ path: String) throws -> [Int32] {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch {
            throw TokenizerError(file: path, "cannot be read: \(error)")
        }
        return try parse(bytes, file: path)
    }

    /// The ids in `data`; `file` names it in errors.
    public static func parse(_ data: Data, file: String = "tokens") throws -> [Int32] {
        try parse([UInt8](data), file: file)
    }

    /// The ids in `bytes`; `file` names it in errors.
    public static func parse(_ bytes: [UInt8], file: String = "tokens") throws -> [Int32] {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if let first = bytes.first(where: { !isSpace($0) }), first == UInt8(ascii: "["),
           let last = bytes.last(where: { !isSpace($0) }), last == UInt8(ascii: "]") {
            return try parseJSON(bytes, file: file)
        }
        guard bytes.count % 4 == 0 else {
            throw TokenizerError(file: file, "neither a JSON array nor little-endian u32 ids (\(bytes.count) bytes, not a multiple of 4)")
        }
        var ids: [Int32] = []
        ids.reserveCapacity(bytes.count / 4)
        for i in stride(from: 0, to: bytes.count, by: 4) {
            let value = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            guard let id = Int32(exactly: value) else {
                throw TokenizerError(file: file, "u32 value \(value) at byte \(i) is not a token id")
            }
            ids.append(id)
        }
        return ids
    }

    private static func parseJSON(_ bytes: [UInt8], file: String) throws -> [Int32] {
        let value = try JSONFields.document(bytes, file: file)
        guard let array = value.arrayValue else { throw TokenizerError(file: file, "not a JSON array") }
        return try array.enumerated().map { n, element in
            guard let id = element.int64Value, let id32 = Int32(exactly: id), id32 >= 0 else {
                throw TokenizerError(file: file, "element \(n) is not a token id (a non-negative integer below 2^31)")
            }
            return id32
        }
    }

    /// `ids` as the binary form (little-endian u32), for writing a token file.
    public static func binary(_ ids: [Int32]) -> Data {
        var data = Data(capacity: ids.count * 4)
        for id in ids {
            let v = UInt32(bitPattern: id)
            data.append(contentsOf: [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)])
        }
        return data
    }
}
