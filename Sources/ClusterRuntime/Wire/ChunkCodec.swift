import CLZ4
import TensorIO

/// How a payload travels.
public enum WireEncoding: UInt8, Sendable {
    /// The bytes as they are.
    case raw = 0
    /// Byte-plane shuffled, then one LZ4 block.
    case shuffledLZ4 = 1
}

/// A payload ready to send: its encoding, the compressed bytes (nil when the chunk travels
/// raw: the bytes that were encoded are the payload, and are sent without a copy), and the
/// xxHash64 of the original (uncompressed) bytes.
public struct EncodedChunk: Sendable, Equatable {
    public let encoding: WireEncoding
    public let compressed: [UInt8]?
    public let checksum: UInt64

    /// Calls `body` with the bytes that go on the wire for a chunk encoded from `original`.
    public func withPayload<R>(of original: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard let compressed else { return try body(original) }
        return try compressed.withUnsafeBytes(body)
    }
}

/// Why a received payload was rejected. Nothing of a rejected payload is ever written.
public enum WireError: Error, Equatable, CustomStringConvertible, Sendable {
    case unknownEncoding(UInt8)
    case sizeMismatch(expected: Int, actual: Int)
    case compressedTooLarge(limit: Int, actual: Int)
    case corrupt
    case checksumMismatch(expected: UInt64, actual: UInt64)

    public var description: String {
        switch self {
        case .unknownEncoding(let e): return "unknown payload encoding \(e)"
        case .sizeMismatch(let expected, let actual): return "payload decodes to \(actual) bytes, the plan says \(expected)"
        case .compressedTooLarge(let limit, let actual): return "compressed payload of \(actual) bytes exceeds the bound \(limit) for its planned size"
        case .corrupt: return "compressed payload is corrupt"
        case .checksumMismatch(let expected, let actual):
            return "checksum mismatch (expected \(String(expected, radix: 16)), got \(String(actual, radix: 16)))"
        }
    }
}

/// Byte-plane shuffle + LZ4 for tensor payloads, with the receiving side's defences: the
/// expected size always comes from the receiver's own plan, never from the peer; a compressed
/// payload larger than `LZ4_compressBound(expected)` is refused before decompression;
/// decompression writes at most `expected` bytes and must produce exactly that many; and the
/// checksum is verified last.
public enum ChunkCodec {
    /// Compression is kept only when it saves at least this share (ratio ≥ 1.02).
    public static let minimumSaving = 0.02
    /// Largest payload one LZ4 block may hold (LZ4's own limit is ~2.1 GB).
    public static let maximumChunk = 1 << 30

    /// Encodes `bytes` (elements of `elementWidth` bytes); compresses only when `compress`
    /// and it pays.
    public static func encode(_ bytes: UnsafeRawBufferPointer, elementWidth: Int, compress: Bool = true) -> EncodedChunk {
        precondition(bytes.count <= maximumChunk, "chunk too large for one LZ4 block")
        let checksum = XXHash64.hash(bytes)
        let width = elementWidth > 0 && bytes.count % elementWidth == 0 ? elementWidth : 1
        guard compress, bytes.count > 0 else { return EncodedChunk(encoding: .raw, compressed: nil, checksum: checksum) }
        let shuffled = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        defer { shuffled.deallocate() }
        ByteShuffle.shuffle(bytes, width: width, into: shuffled)
        let bound = Int(LZ4_compressBound(Int32(bytes.count)))
        let compressed = [UInt8](unsafeUninitializedCapacity: bound) { out, initialized in
            initialized = max(0, Int(LZ4_compress_default(shuffled.baseAddress!.assumingMemoryBound(to: CChar.self),
                                                          UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: CChar.self),
                                                          Int32(bytes.count), Int32(bound))))
        }
        guard !compressed.isEmpty, Double(compressed.count) <= Double(bytes.count) * (1 - minimumSaving) else {
            return EncodedChunk(encoding: .raw, compressed: nil, checksum: checksum)
        }
        return EncodedChunk(encoding: .shuffledLZ4, compressed: compressed, checksum: checksum)
    }

    /// Decodes a received payload into exactly `expectedSize` bytes, verifies their checksum,
    /// and only then calls `body` with them (the payload itself when it travelled raw, else a
    /// scratch buffer valid during the call). Wire problems throw `WireError`; nothing reaches
    /// `body` unverified.
    public static func decode<R>(_ payload: UnsafeRawBufferPointer, encoding rawEncoding: UInt8, expectedSize: Int,
                                 elementWidth: Int, checksum: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let encoding = WireEncoding(rawValue: rawEncoding) else { throw WireError.unknownEncoding(rawEncoding) }
        func verified(_ bytes: UnsafeRawBufferPointer) throws -> R {
            let actual = XXHash64.hash(bytes)
            guard actual == checksum else { throw WireError.checksumMismatch(expected: checksum, actual: actual) }
            return try body(bytes)
        }
        switch encoding {
        case .raw:
            guard payload.count == expectedSize else { throw WireError.sizeMismatch(expected: expectedSize, actual: payload.count) }
            return try verified(payload)
        case .shuffledLZ4:
            guard expectedSize <= maximumChunk else { throw WireError.sizeMismatch(expected: maximumChunk, actual: expectedSize) }
            let bound = Int(LZ4_compressBound(Int32(expectedSize)))
            guard payload.count <= bound else { throw WireError.compressedTooLarge(limit: bound, actual: payload.count) }
            let shuffled = UnsafeMutableRawBufferPointer.allocate(byteCount: max(expectedSize, 1), alignment: 16)
            defer { shuffled.deallocate() }
            let produced = Int(LZ4_decompress_safe(payload.baseAddress?.assumingMemoryBound(to: CChar.self),
                                                   shuffled.baseAddress!.assumingMemoryBound(to: CChar.self),
                                                   Int32(payload.count), Int32(expectedSize)))
            guard produced >= 0 else { throw WireError.corrupt }
            guard produced == expectedSize else { throw WireError.sizeMismatch(expected: expectedSize, actual: produced) }
            let width = elementWidth > 0 && expectedSize % elementWidth == 0 ? elementWidth : 1
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(expectedSize, 1), alignment: 16)
            defer { bytes.deallocate() }
            let result = UnsafeMutableRawBufferPointer(rebasing: bytes[0..<expectedSize])
            ByteShuffle.unshuffle(UnsafeRawBufferPointer(rebasing: shuffled[0..<expectedSize]), width: width, into: result)
            return try verified(UnsafeRawBufferPointer(result))
        }
    }

    /// `decode` into a new array (for tests and benchmarks).
    public static func decode(_ payload: UnsafeRawBufferPointer, encoding: UInt8, expectedSize: Int,
                              elementWidth: Int, checksum: UInt64) throws(WireError) -> [UInt8] {
        do {
            return try decode(payload, encoding: encoding, expectedSize: expectedSize, elementWidth: elementWidth, checksum: checksum) { Array($0) }
        } catch {
            // `Array(_:)` cannot throw: every error here is the codec's.
            throw error as! WireError
        }
    }
}
