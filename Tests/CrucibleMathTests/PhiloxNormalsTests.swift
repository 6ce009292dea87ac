import Foundation
import Testing
import CrucibleMath
import TestSupport

/// The definition of `Philox.normals`, written again one element at a time with scalar Float
/// operations in the same order (no SIMD, no shared code beyond `Philox.block`).
private func referenceNormal(_ philox: Philox, element e: Int) -> Float {
    let j = e % 32, value = j / 8
    let words = philox.block(UInt64(e / 32 * 8 + j % 8), high: 2)
    let (a, b) = value < 2 ? (words[0], words[1]) : (words[2], words[3])
    func one(_ x: UInt32) -> Float { Float(bitPattern: 0x3F80_0000 | x) }
    let u = 2 - one(a >> 9)
    // ln u = e · ln 2 + 2 atanh((m − 1)/(m + 1)), m in [√½, √2).
    var exponent = Int(u.bitPattern >> 23) - 127
    var m = Float(bitPattern: (u.bitPattern & 0x7F_FFFF) | 0x3F80_0000)
    if m > Float(2).squareRoot() {
        m /= 2
        exponent += 1
    }
    let t = (m - 1) / (m + 1), t2 = t * t
    var p: Float = 1 / 9
    p = p * t2 + 1 / 7
    p = p * t2 + 1 / 5
    p = p * t2 + 1 / 3
    p = p * t2 + 1
    let logU = Float(exponent) * 0.693_147_2 + 2 * t * p
    let r = (-2 * logU).squareRoot()
    let quadrant = b >> 30
    let x = (one((b >> 7) & 0x7F_FFFC) - 1) * (Float.pi / 2), x2 = x * x
    var s: Float = -1 / 39_916_800
    s = s * x2 + 1 / 362_880
    s = s * x2 - 1 / 5040
    s = s * x2 + 1 / 120
    s = s * x2 - 1 / 6
    s = (s * x2 + 1) * x
    var c: Float = 1 / 479_001_600
    c = c * x2 - 1 / 3_628_800
    c = c * x2 + 1 / 40320
    c = c * x2 - 1 / 720
    c = c * x2 + 1 / 24
    c = c * x2 - 1 / 2
    c = c * x2 + 1
    let (cosTheta, sinTheta): (Float, Float) = switch quadrant {
    case 0: (c, s)
    case 1: (-s, c)
    case 2: (-c, -s)
    default: (s, -c)
    }
    return value % 2 == 0 ? r * cosTheta : r * sinTheta
}

@Suite("Philox fast normals (sweep noise)")
struct PhiloxNormalsTests {
    @Test("every value equals the scalar definition bit for bit", arguments: [0, 5, 1_000_003])
    func matchesScalarDefinition(first: Int) {
        let philox = Philox(seed: 11, stream: 0x53_5745_4550, name: "model.layers.0.mlp.up_proj.weight")
        let count = 4099
        var values = [Float](repeating: .nan, count: count)
        values.withUnsafeMutableBufferPointer { philox.normals(first: first, into: $0) }
        let mismatches = (0..<count).filter { values[$0].bitPattern != referenceNormal(philox, element: first + $0).bitPattern }
        #expect(mismatches.isEmpty, "elements \(mismatches.prefix(5).map { first + $0 }) differ")
        #expect(philox.normalDraw(element: first + 17).bitPattern == values[17].bitPattern)
    }

    @Test("each value is within 2e-6 · (1 + |z|) of Box–Muller computed in Double with libm")
    func closeToExactBoxMuller() {
        let philox = Philox(seed: 3, stream: 1, name: "w")
        let count = 200_000
        var values = [Float](repeating: .nan, count: count)
        values.withUnsafeMutableBufferPointer { philox.normals(first: 0, into: $0) }
        var worst = 0.0
        for e in 0..<count {
            let j = e % 32
            let words = philox.block(UInt64(e / 32 * 8 + j % 8), high: 2)
            let (a, b) = j / 8 < 2 ? (words[0], words[1]) : (words[2], words[3])
            let u = 1 - Double(a >> 9) * 0x1p-23, theta = 2 * Double.pi * Double(b >> 9) * 0x1p-23
            let exact = (-2 * Foundation.log(u)).squareRoot() * (j / 8 % 2 == 0 ? Foundation.cos(theta) : Foundation.sin(theta))
            worst = max(worst, abs(Double(values[e]) - exact) / (1 + abs(exact)))
        }
        #expect(worst < 2e-6, "worst relative error \(worst)")
    }

    @Test("fills do not depend on how the range is split", arguments: [(0, 1), (3, 7), (12345, 100)])
    func splitInvariant(first: Int, maxChunk: Int) {
        let philox = Philox(seed: 7, stream: 0, name: "lm_head.weight")
        let count = 3001
        var whole = [Float](repeating: .nan, count: count)
        whole.withUnsafeMutableBufferPointer { philox.normals(first: first, into: $0) }
        var rng = SplitMix64(seed: UInt64(maxChunk))
        var chunked = [Float](repeating: .nan, count: count)
        chunked.withUnsafeMutableBufferPointer { buffer in
            var start = 0
            while start < count {
                let end = min(count, start + Int.random(in: 1...maxChunk, using: &rng))
                philox.normals(first: first + start, into: UnsafeMutableBufferPointer(rebasing: buffer[start..<end]))
                start = end
            }
        }
        #expect(chunked.map(\.bitPattern) == whole.map(\.bitPattern))
    }

    @Test("2M draws: mean, variance, tails and the normal CDF at 9 points as a standard normal's")
    func moments() {
        let n = 2_000_000
        var values = [Float](repeating: .nan, count: n)
        values.withUnsafeMutableBufferPointer { Philox(seed: 2024, stream: 3, name: "model.embed_tokens.weight").normals(first: 0, into: $0) }
        let finite = values.allSatisfy { $0.isFinite }
        #expect(finite)
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(n)
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n - 1)
        #expect(abs(mean) < 4 / Double(n).squareRoot(), "mean \(mean)")
        #expect(abs(variance - 1) < 0.005, "variance \(variance)")
        let sorted = values.sorted()
        for z in [-3.0, -2, -1, -0.5, 0, 0.5, 1, 2, 3] {
            let below = Double(sorted.partitioningIndex { Double($0) >= z }) / Double(n)
            let expected = 0.5 * erfc(-z / 2.0.squareRoot())
            let se = (expected * (1 - expected) / Double(n)).squareRoot()
            #expect(abs(below - expected) < 5 * se + 1e-6, "P(Z < \(z)) = \(below), expected \(expected)")
        }
    }
}

private extension Array where Element == Float {
    /// The first index whose element satisfies `predicate` (which is false, then true).
    func partitioningIndex(where predicate: (Float) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if predicate(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
