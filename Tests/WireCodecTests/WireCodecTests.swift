import Foundation
import Testing
import WireCodec
import TensorIO
import TestSupport

/// The wire codec: checksums, shuffling, compression that pays, and every way a received
/// payload can be wrong rejected without writing a byte.
@Suite struct WireCodecTests {
    @Test("xxHash64 matches the reference vectors")
    func xxhashVectors() {
        #expect(XXHash64.hash([]) == 0xEF46_DB37_51D8_E999)
        #expect(XXHash64.hash(Array("a".utf8)) == 0xD24E_C4F1_A98C_6E5B)
        #expect(XXHash64.hash(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
        #expect(XXHash64.hash(Array("Nobody inspects the spammish repetition".utf8)) == 0xFBCE_A83C_8A37_8BF1)
    }

    /// `PlaneShuffle`'s documented layout, one bit at a time.
    func referencePlanes(_ source: [UInt8], width: Int) -> [UInt8] {
        let n = source.count / width, q = n / 8
        var out = [UInt8](repeating: 0, count: source.count)
        for j in 0..<(width - 1) { for i in 0..<n { out[j * n + i] = source[i * width + j] } }
        let top = (width - 1) * n
        for k in 0..<8 {
            for i in 0..<q {
                var byte: UInt8 = 0
                for b in 0..<8 { byte |= ((source[(8 * i + b) * width + width - 1] >> k) & 1) << b }
                out[top + k * q + i] = byte
            }
        }
        for i in (8 * q)..<n { out[top + i] = source[i * width + width - 1] }
        return out
    }

    @Test("plane shuffle follows its documented layout and unshuffle inverts it", arguments: [1, 2, 3, 4, 8])
    func planeShuffle(width: Int) {
        for count in [0, 1, 7, 8, 9, 16, 23, 1001] {
            let source = (0..<(width * count)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 7) }
            var planes = [UInt8](repeating: 0, count: source.count)
            var back = [UInt8](repeating: 0, count: source.count)
            source.withUnsafeBytes { s in planes.withUnsafeMutableBytes { PlaneShuffle.shuffle(s, width: width, into: $0) } }
            planes.withUnsafeBytes { p in back.withUnsafeMutableBytes { PlaneShuffle.unshuffle(p, width: width, into: $0) } }
            #expect(planes == referencePlanes(source, width: width), "width \(width), \(count) elements")
            #expect(back == source, "width \(width), \(count) elements")
        }
    }

    /// BF16 bytes of N(0, 0.02²) values, like real weights.
    func bf16Weights(_ count: Int) -> [UInt8] {
        var rng = SplitMix64(seed: 42)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 2)
        for _ in 0..<count {
            // Box-Muller from a SplitMix64 stream.
            let z = rng.next()
            let u1 = (Double(z >> 11) + 1) / 9_007_199_254_740_993.0, u2 = Double(z & 0xFFFF_FFFF) / 4_294_967_296.0
            let value = Float(0.02 * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
            let bits = UInt16(value.bitPattern >> 16)
            bytes.append(UInt8(bits & 0xFF))
            bytes.append(UInt8(bits >> 8))
        }
        return bytes
    }

    /// Encodes with a fresh codec; returns the header and a copy of the payload.
    func encode(_ bytes: [UInt8], width: Int, compress: Bool = true) -> (EncodedChunk, [UInt8]) {
        bytes.withUnsafeBytes { ChunkCodec().encode($0, elementWidth: width, compress: compress) { ($0, Array($1)) } }
    }

    @Test("plane-shuffled LZ4 compresses BF16 weights by at least 1.15 and round-trips exactly")
    func compressesWeights() throws {
        let bytes = bf16Weights(1 << 18)
        let (encoded, payload) = encode(bytes, width: 2)
        #expect(encoded.encoding == .planesLZ4)
        let ratio = Double(bytes.count) / Double(payload.count)
        #expect(ratio >= 1.15, "ratio \(ratio)")
        let decoded = try payload.withUnsafeBytes {
            try ChunkCodec().decode($0, encoding: encoded.encoding.rawValue, expectedSize: bytes.count, elementWidth: 2, checksum: encoded.checksum)
        }
        #expect(decoded == bytes)
    }

    @Test("decoding straight into a destination restores the bytes there; a raw payload that fails its checksum leaves it untouched")
    func decodeInto() throws {
        let bytes = bf16Weights(1 << 14)
        let codec = ChunkCodec()
        for compress in [true, false] {
            let (encoded, payload) = encode(bytes, width: 2, compress: compress)
            #expect(encoded.encoding == (compress ? .planesLZ4 : .raw))
            var destination = [UInt8](repeating: 0, count: bytes.count)
            try payload.withUnsafeBytes { p in
                try destination.withUnsafeMutableBytes {
                    try codec.decode(p, encoding: encoded.encoding.rawValue, expectedSize: bytes.count, elementWidth: 2,
                                     checksum: encoded.checksum, into: $0)
                }
            }
            #expect(destination == bytes, "compress: \(compress)")
            var untouched = [UInt8](repeating: 0, count: bytes.count)
            #expect(throws: WireError.checksumMismatch(expected: encoded.checksum ^ 1, actual: encoded.checksum)) {
                try payload.withUnsafeBytes { p in
                    try untouched.withUnsafeMutableBytes {
                        try codec.decode(p, encoding: encoded.encoding.rawValue, expectedSize: bytes.count, elementWidth: 2,
                                         checksum: encoded.checksum ^ 1, into: $0)
                    }
                }
            }
            if !compress { #expect(untouched.allSatisfy { $0 == 0 }) }
        }
    }

    @Test("one codec reused for chunks of changing sizes and widths encodes and decodes each exactly")
    func reusedCodec() throws {
        let codec = ChunkCodec(), receiver = ChunkCodec()
        let weights = bf16Weights(1 << 16)
        for (count, width) in [(1 << 17, 2), (1000, 2), (4096, 4), (1 << 17, 1), (6, 2), (1 << 17, 2)] {
            let bytes = Array(weights[0..<count])
            let (encoded, payload) = bytes.withUnsafeBytes { codec.encode($0, elementWidth: width) { ($0, Array($1)) } }
            let decoded = try payload.withUnsafeBytes {
                try receiver.decode($0, encoding: encoded.encoding.rawValue, expectedSize: count, elementWidth: width, checksum: encoded.checksum)
            }
            #expect(decoded == bytes, "\(count) bytes of width \(width)")
            #expect(encoded.checksum == bytes.withUnsafeBytes { XXHash64.hash($0) })
        }
    }

    @Test("incompressible bytes and disabled compression travel raw")
    func rawWhenItDoesNotPay() {
        var state: UInt64 = 7
        let noise = (0..<65536).map { _ -> UInt8 in state = state &* 6_364_136_223_846_793_005 &+ 1; return UInt8(state >> 56) }
        let (random, randomPayload) = encode(noise, width: 1)
        #expect(random.encoding == .raw && randomPayload == noise)
        let zeros = [UInt8](repeating: 0, count: 4096)
        let (disabled, disabledPayload) = encode(zeros, width: 4, compress: false)
        #expect(disabled.encoding == .raw && disabledPayload == zeros)
        #expect(encode(zeros, width: 4).0.encoding == .planesLZ4)
    }

    func decode(_ payload: [UInt8], _ encoding: UInt8, expected: Int, checksum: UInt64) throws(WireError) -> [UInt8] {
        let result: Result<[UInt8], WireError> = payload.withUnsafeBytes { p in
            do throws(WireError) {
                return .success(try ChunkCodec().decode(p, encoding: encoding, expectedSize: expected, elementWidth: 2, checksum: checksum))
            } catch { return .failure(error) }
        }
        return try result.get()
    }

    @Test("hostile or broken payloads are rejected")
    func rejections() {
        let bytes = bf16Weights(4096)
        let (good, compressed) = encode(bytes, width: 2)
        // A size the plan does not expect.
        #expect(throws: WireError.sizeMismatch(expected: 100, actual: bytes.count)) {
            try decode(bytes, WireEncoding.raw.rawValue, expected: 100, checksum: good.checksum)
        }
        // An unknown encoding, and the retired byte-planes-only encoding 1.
        #expect(throws: WireError.unknownEncoding(9)) { try decode(compressed, 9, expected: bytes.count, checksum: good.checksum) }
        #expect(throws: WireError.unknownEncoding(1)) { try decode(compressed, 1, expected: bytes.count, checksum: good.checksum) }
        // A compressed payload larger than LZ4 could ever produce for the planned size.
        let oversized = [UInt8](repeating: 0, count: 2000)
        #expect(throws: WireError.compressedTooLarge(limit: 1019, actual: 2000)) {
            try decode(oversized, WireEncoding.planesLZ4.rawValue, expected: 1000, checksum: 0)
        }
        // A decompression bomb: 1 MB of zeros claimed to be 1000 bytes.
        let (bomb, bombPayload) = encode([UInt8](repeating: 0, count: 1 << 20), width: 1)
        #expect(throws: WireError.self) { try decode(bombPayload, WireEncoding.planesLZ4.rawValue, expected: 1000, checksum: bomb.checksum) }
        // Corrupted compressed bytes.
        var corrupt = compressed
        for i in stride(from: 0, to: corrupt.count, by: 7) { corrupt[i] ^= 0xA5 }
        #expect(throws: WireError.self) { try decode(corrupt, good.encoding.rawValue, expected: bytes.count, checksum: good.checksum) }
        // Intact bytes, wrong checksum.
        #expect(throws: WireError.checksumMismatch(expected: good.checksum ^ 1, actual: good.checksum)) {
            try decode(compressed, good.encoding.rawValue, expected: bytes.count, checksum: good.checksum ^ 1)
        }
        // Nothing unverified reaches the caller, raw or compressed.
        var delivered = 0
        for (payload, encoding) in [(bytes, WireEncoding.raw), (compressed, good.encoding)] {
            _ = try? payload.withUnsafeBytes { p in
                try ChunkCodec().decode(p, encoding: encoding.rawValue, expectedSize: bytes.count, elementWidth: 2, checksum: good.checksum ^ 1) { _ in delivered += 1 }
            }
        }
        #expect(delivered == 0)
    }
}
