import CLZ4
import TensorIO

extension ChunkCodec {
    /// The liblz4 linked, e.g. "1.9.4".
    public static var lz4Version: String {
        let number = LZ4_versionNumber()
        return "\(number / 10000).\(number / 100 % 100).\(number % 100)"
    }
}

/// How a payload travels.
public enum WireEncoding: UInt8, Sendable {
    /// The bytes as they are.
    case raw = 0
    /// Byte planes with the top plane as bit planes (`PlaneShuffle`), then one LZ4 block.
    /// (1 was byte planes alone in pre-release builds; it is retired, never reused.)
    case planesLZ4 = 2

    /// The name a worker lists in its HELLO `encodings` when it wants compressed payloads.
    /// A peer that does not know the name (an older build) simply gets raw payloads.
    public static let compressedName = "planes-lz4"
}

/// What the receiver needs besides the payload: how it was encoded and the xxHash64 of the
/// original (uncompressed) bytes.
public struct EncodedChunk: Sendable, Equatable {
    public let encoding: WireEncoding
    public let checksum: UInt64
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

/// Plane shuffle (`PlaneShuffle`) + LZ4 for tensor payloads, with the receiving side's
/// defences: the expected size always comes from the receiver's own plan, never from the
/// peer; a compressed payload larger than `LZ4_compressBound(expected)` is refused before
/// decompression; decompression writes at most `expected` bytes and must produce exactly that
/// many; and the checksum is verified last.
///
/// A codec keeps its scratch buffers from one chunk to the next (fresh multi-megabyte buffers
/// cost a page fault per 4 KiB), so each sending or receiving thread owns one; it is not
/// `Sendable`.
public final class ChunkCodec {
    /// Compression is kept only when it saves at least this share (ratio ≥ 1.02).
    public static let minimumSaving = 0.02
    /// Largest payload one LZ4 block may hold (LZ4's own limit is ~2.1 GB).
    public static let maximumChunk = 1 << 30

    /// Planes of the chunk being encoded, or the decompressed planes being decoded.
    private var planes = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    /// The compressed bytes being sent, or the restored bytes being verified.
    private var output = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    public init() {}

    deinit {
        planes.deallocate()
        output.deallocate()
    }

    /// Encodes `bytes` (elements of `elementWidth` bytes), compressing only when `compress` and
    /// it pays, and calls `body` with the encoding and the bytes to send: `bytes` itself when
    /// they travel raw, else the compressed bytes (valid during the call).
    public func encode<R>(_ bytes: UnsafeRawBufferPointer, elementWidth: Int, compress: Bool = true,
                          _ body: (EncodedChunk, UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(bytes.count <= Self.maximumChunk, "chunk too large for one LZ4 block")
        let checksum = XXHash64.hash(bytes)
        let raw = EncodedChunk(encoding: .raw, checksum: checksum)
        guard compress, bytes.count > 0 else { return try body(raw, bytes) }
        let width = elementWidth > 0 && bytes.count % elementWidth == 0 ? elementWidth : 1
        let bound = Int(LZ4_compressBound(Int32(bytes.count)))
        reserve(planes: bytes.count, output: bound)
        let shuffled = UnsafeMutableRawBufferPointer(rebasing: planes[0..<bytes.count])
        PlaneShuffle.shuffle(bytes, width: width, into: shuffled)
        let produced = Int(LZ4_compress_default(shuffled.baseAddress!.assumingMemoryBound(to: CChar.self),
                                                output.baseAddress!.assumingMemoryBound(to: CChar.self),
                                                Int32(bytes.count), Int32(bound)))
        guard produced > 0, Double(produced) <= Double(bytes.count) * (1 - Self.minimumSaving) else { return try body(raw, bytes) }
        return try body(EncodedChunk(encoding: .planesLZ4, checksum: checksum), UnsafeRawBufferPointer(rebasing: output[0..<produced]))
    }

    /// Decodes a received payload into exactly `expectedSize` bytes, verifies their checksum,
    /// and only then calls `body` with them (the payload itself when it travelled raw, else a
    /// scratch buffer valid during the call). Wire problems throw `WireError`; nothing reaches
    /// `body` unverified.
    public func decode<R>(_ payload: UnsafeRawBufferPointer, encoding: UInt8, expectedSize: Int,
                          elementWidth: Int, checksum: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let bytes = try restore(payload, encoding: encoding, expectedSize: expectedSize, elementWidth: elementWidth, into: nil)
        try verify(bytes, checksum: checksum)
        return try body(bytes)
    }

    /// Decodes a received payload straight into `destination` (exactly `expectedSize` bytes)
    /// and verifies it there, saving the copy out of a scratch buffer. A raw payload is
    /// verified before it is copied; a compressed one is verified after it is unshuffled in
    /// place, so on any error `destination` may hold unverified bytes: for buffers the caller
    /// discards on error (a worker's shipped inputs), never for the job's output.
    public func decode(_ payload: UnsafeRawBufferPointer, encoding: UInt8, expectedSize: Int, elementWidth: Int,
                       checksum: UInt64, into destination: UnsafeMutableRawBufferPointer) throws(WireError) {
        precondition(destination.count == expectedSize, "the destination must hold exactly the expected bytes")
        let bytes = try restore(payload, encoding: encoding, expectedSize: expectedSize, elementWidth: elementWidth, into: destination)
        try verify(bytes, checksum: checksum)
        if bytes.baseAddress != UnsafeRawPointer(destination.baseAddress), let source = bytes.baseAddress {
            destination.baseAddress!.copyMemory(from: source, byteCount: bytes.count)
        }
    }

    /// The payload's original bytes: the payload itself when raw; else decompressed into the
    /// scratch planes and unshuffled into `destination` (or the scratch output). Checks every
    /// size against `expectedSize` and bounds the decompression; does not verify the checksum.
    private func restore(_ payload: UnsafeRawBufferPointer, encoding rawEncoding: UInt8, expectedSize: Int, elementWidth: Int,
                         into destination: UnsafeMutableRawBufferPointer?) throws(WireError) -> UnsafeRawBufferPointer {
        guard let encoding = WireEncoding(rawValue: rawEncoding) else { throw .unknownEncoding(rawEncoding) }
        switch encoding {
        case .raw:
            guard payload.count == expectedSize else { throw .sizeMismatch(expected: expectedSize, actual: payload.count) }
            return payload
        case .planesLZ4:
            guard expectedSize <= Self.maximumChunk else { throw .sizeMismatch(expected: Self.maximumChunk, actual: expectedSize) }
            let bound = Int(LZ4_compressBound(Int32(expectedSize)))
            guard payload.count <= bound else { throw .compressedTooLarge(limit: bound, actual: payload.count) }
            reserve(planes: expectedSize, output: destination == nil ? expectedSize : 0)
            let produced = Int(LZ4_decompress_safe(payload.baseAddress?.assumingMemoryBound(to: CChar.self),
                                                   planes.baseAddress!.assumingMemoryBound(to: CChar.self),
                                                   Int32(payload.count), Int32(expectedSize)))
            guard produced >= 0 else { throw .corrupt }
            guard produced == expectedSize else { throw .sizeMismatch(expected: expectedSize, actual: produced) }
            let width = elementWidth > 0 && expectedSize % elementWidth == 0 ? elementWidth : 1
            let result = destination ?? UnsafeMutableRawBufferPointer(rebasing: output[0..<expectedSize])
            PlaneShuffle.unshuffle(UnsafeRawBufferPointer(rebasing: planes[0..<expectedSize]), width: width, into: result)
            return UnsafeRawBufferPointer(result)
        }
    }

    private func verify(_ bytes: UnsafeRawBufferPointer, checksum: UInt64) throws(WireError) {
        let actual = XXHash64.hash(bytes)
        guard actual == checksum else { throw .checksumMismatch(expected: checksum, actual: actual) }
    }

    /// `decode` into a new array (for tests and benchmarks).
    public func decode(_ payload: UnsafeRawBufferPointer, encoding: UInt8, expectedSize: Int,
                       elementWidth: Int, checksum: UInt64) throws(WireError) -> [UInt8] {
        do {
            return try decode(payload, encoding: encoding, expectedSize: expectedSize, elementWidth: elementWidth, checksum: checksum) { Array($0) }
        } catch {
            // `Array(_:)` cannot throw: every error here is the codec's.
            throw error as! WireError
        }
    }

    /// Grows the scratch buffers to at least these sizes (never shrinks them: chunks of a job
    /// share one size).
    private func reserve(planes planeBytes: Int, output outputBytes: Int) {
        if planes.count < max(planeBytes, 1) {
            planes.deallocate()
            planes = .allocate(byteCount: max(planeBytes, 1), alignment: 64)
        }
        if output.count < max(outputBytes, 1) {
            output.deallocate()
            output = .allocate(byteCount: max(outputBytes, 1), alignment: 64)
        }
    }
}
