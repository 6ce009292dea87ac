import CVectorKernels
import CrucibleMath
import Testing
import TestSupport

/// A Random123 known-answer vector for Philox4x32-10.
struct PhiloxVector: Sendable, CustomTestStringConvertible {
    let counter: (UInt32, UInt32, UInt32, UInt32)
    let key: (UInt32, UInt32)
    let expected: (UInt32, UInt32, UInt32, UInt32)
    var testDescription: String { "counter \(counter) key \(key)" }
}

private let random123Vectors = [
    PhiloxVector(counter: (0, 0, 0, 0), key: (0, 0), expected: (0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8)),
    PhiloxVector(counter: (.max, .max, .max, .max), key: (.max, .max), expected: (0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd)),
    PhiloxVector(counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0),
                 expected: (0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1)),
]

private func fill(_ count: Int, first: Int = 0, _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> [Float] {
    var out = [Float](repeating: .nan, count: count)
    out.withUnsafeMutableBufferPointer { body($0) }
    return out
}

/// Fills `first ..< first + count` chunk by chunk, cutting at seeded random boundaries.
private func fillInChunks(_ count: Int, first: Int, seed: UInt64, maxChunk: Int,
                          _ draw: (Int, UnsafeMutableBufferPointer<Float>) -> Void) -> [Float] {
    var rng = SplitMix64(seed: seed)
    var out = [Float](repeating: .nan, count: count)
    out.withUnsafeMutableBufferPointer { buffer in
        var start = 0
        while start < count {
            let end = min(count, start + Int.random(in: 1...maxChunk, using: &rng))
            draw(first + start, UnsafeMutableBufferPointer(rebasing: buffer[start..<end]))
            start = end
        }
    }
    return out
}

@Suite("Philox4x32-10 counter-based generator")
struct PhiloxTests {
    @Test("Random123 known-answer vectors", arguments: random123Vectors)
    func knownAnswers(vector: PhiloxVector) {
        let philox = Philox(key: vector.key)
        let c = vector.counter
        let out = philox.block(UInt64(c.0) | UInt64(c.1) << 32, high: UInt64(c.2) | UInt64(c.3) << 32)
        let e = vector.expected
        #expect(out == SIMD4(e.0, e.1, e.2, e.3), "got \(out.indices.map { String(out[$0], radix: 16) })")
    }

    @Test("uniform fills are in [0, 1), follow the block layout, and do not depend on how the range is split",
          arguments: [(Int, Int)]([(0, 1), (3, 5), (1001, 64)]))
    func uniformSplitInvariant(first: Int, maxChunk: Int) {
        let philox = Philox(seed: 42, stream: 1, name: "model.layers.0.mlp.up_proj.weight")
        let count = 4099
        let whole = fill(count) { philox.uniform(first: first, into: $0) }
        for seed in 0..<4 as Range<UInt64> {
            let chunked = fillInChunks(count, first: first, seed: seed, maxChunk: maxChunk) { philox.uniform(first: $0, into: $1) }
            #expect(chunked.map(\.bitPattern) == whole.map(\.bitPattern))
        }
        let inRange = whole.allSatisfy { $0 >= 0 && $0 < 1 }
        #expect(inRange)
        // Element e is word e % 4 of block e / 4, using its top 24 bits.
        for e in [0, 1, 2, 3, 4, 777, 4098] {
            let word = philox.block(UInt64((first + e) / 4))[(first + e) % 4]
            #expect(whole[e] == Float(word >> 8) / 16_777_216)
        }
    }

    @Test("normal fills do not depend on how the range is split, nor on the starting element", arguments: [(Int, Int)]([(0, 1), (1, 3), (12345, 100)]))
    func normalSplitInvariant(first: Int, maxChunk: Int) {
        let philox = Philox(seed: 7, stream: 0, name: "lm_head.weight")
        let count = 2049
        let whole = fill(count) { philox.normal(first: first, into: $0) }
        for seed in 0..<4 as Range<UInt64> {
            let chunked = fillInChunks(count, first: first, seed: seed, maxChunk: maxChunk) { philox.normal(first: $0, into: $1) }
            #expect(chunked.map(\.bitPattern) == whole.map(\.bitPattern))
        }
        #expect(whole.indices.allSatisfy { whole[$0].bitPattern == philox.normal(element: first + $0).bitPattern })
        #expect(whole.allSatisfy { $0.isFinite })
    }

    @Test("1M normal draws have mean within 4 standard errors of 0 and variance within 2% of 1")
    func normalMoments() {
        let n = 1_000_000
        let philox = Philox(seed: 2024, stream: 3, name: "model.embed_tokens.weight")
        let values = fill(n) { philox.normal(first: 0, into: $0) }
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(n)
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n - 1)
        #expect(abs(mean) < 4 / Double(n).squareRoot(), "mean \(mean)")
        #expect(abs(variance - 1) < 0.02, "variance \(variance)")
        // Tails: about 0.27% of draws lie beyond 3 standard deviations.
        let beyond3 = Double(values.filter { abs($0) > 3 }.count) / Double(n)
        #expect(beyond3 > 0.0022 && beyond3 < 0.0032, "\(beyond3)")
    }

    @Test("1M uniform draws have mean 1/2 and variance 1/12")
    func uniformMoments() {
        let n = 1_000_000
        let values = fill(n) { Philox(seed: 1, stream: 0, name: "u").uniform(first: 0, into: $0) }
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(n)
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n - 1)
        #expect(abs(mean - 0.5) < 4 * (1.0 / 12).squareRoot() / Double(n).squareRoot(), "mean \(mean)")
        #expect(abs(variance - 1.0 / 12) < 0.02 / 12, "variance \(variance)")
    }

    @Test("different seeds, streams and names give different keys; the same inputs give the same key")
    func keysAreDistinct() {
        let names = ["", "a", "b", "model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight", "lm_head.weight"]
        var keys: [UInt64: (UInt64, UInt64, String)] = [:]
        var collisions: [String] = []
        for seed: UInt64 in [0, 1, 2, 42, .max] {
            for stream: UInt64 in 0..<6 {
                for name in names {
                    let key = Philox(seed: seed, stream: stream, name: name).key
                    let packed = UInt64(key.0) | UInt64(key.1) << 32
                    if let other = keys[packed] { collisions.append("\((seed, stream, name)) vs \(other)") }
                    keys[packed] = (seed, stream, name)
                }
            }
        }
        #expect(collisions.isEmpty, "\(collisions.prefix(4))")
        #expect(keys.count == 5 * 6 * names.count)
        #expect(Philox(seed: 9, stream: 2, name: "w") == Philox(seed: 9, stream: 2, name: "w"))
        #expect(Philox(seed: 9, stream: 2, name: "w") != Philox(seed: 9, stream: 3, name: "w"))
        // Different keys give different streams of numbers.
        let a = fill(64) { Philox(seed: 9, stream: 2, name: "w").uniform(first: 0, into: $0) }
        let b = fill(64) { Philox(seed: 10, stream: 2, name: "w").uniform(first: 0, into: $0) }
        #expect(a != b)
    }
}

@Suite struct PhiloxBulkTests {
    @Test("bulk uniform draws equal per-element draws at any offset and length")
    func bulkMatchesPerElement() {
        let philox = Philox(seed: 5, stream: 2, name: "w")
        for first in [0, 1, 3, 17, 1_000_003] {
            var bulk = [Float](repeating: -1, count: 101)
            bulk.withUnsafeMutableBufferPointer { philox.uniform(first: first, into: $0) }
            #expect(bulk == (0..<101).map { philox.uniform(element: first + $0) })
        }
    }
}

/// The AVX2 path of bulk draws (used where the CPU has AVX2) against the scalar definition.
@Suite struct PhiloxAVX2Tests {
    @Test("AVX2 blocks equal Philox.block for several keys and counters, a low word wrapping past 2³² included",
          .enabled(if: crucible_use_avx2() != 0, "this CPU has no AVX2 (or CRUCIBLE_SIMD=baseline)"))
    func blocksMatchTheScalarDefinition() {
        let firsts: [UInt64] = [0, 8, 12345, (1 << 32) - 3, (1 << 40) + 7, UInt64.max / 2]
        for key in [(UInt32(0), UInt32(0)), (0xDEAD_BEEF, 0x0123_4567), (UInt32.max, 1)] {
            let philox = Philox(key: key)
            for first in firsts {
                var words = [UInt32](repeating: 0, count: 4 * 24)
                words.withUnsafeMutableBytes { crucible_philox_blocks_avx2(key.0, key.1, first, 24, $0.baseAddress!) }
                let expected = (0..<UInt64(24)).flatMap { b in Array(philox.block(first &+ b).littleEndianWords) }
                #expect(words.map(\.littleEndian) == expected, "key \(key), first block \(first)")
            }
        }
    }

    @Test("bulk 16-bit draws (the AVX2 path where the CPU has it) equal draw16(element:) at any start and length")
    func bulkDrawsMatchPerElementDraws() {
        let philox = Philox(seed: 9, stream: 1, name: "model.layers.0.mlp.up_proj.weight")
        for (first, count) in [(0, 64), (3, 1000), (8 * ((1 << 32) - 2), 200), (61, 4099)] {
            var draws = [UInt16](repeating: 0, count: count)
            draws.withUnsafeMutableBufferPointer { philox.draws16(first: first, into: $0) }
            let expected = (0..<count).map { philox.draw16(element: first + $0) }
            #expect(draws == expected, "first \(first), count \(count)")
        }
    }
}

extension SIMD4 where Scalar == UInt32 {
    fileprivate var littleEndianWords: [UInt32] { [self[0], self[1], self[2], self[3]] }
}
