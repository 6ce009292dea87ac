import Foundation
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// TIES on tensors large enough for the sampled selection path: the kept set must be exactly
/// the k largest |δ| (ties broken by lower index first), as an independent sort says.
@Suite struct LargeSelectionTests {
    /// Kept element indices of a single-model TIES merge (weight 1: out = base + δ where kept).
    func keptIndices(delta: [Float], density: Double, rows: Int, cols: Int) throws -> [Int] {
        let root = TemporaryFolder.make("models")
        let base = TestModels.normal(rows * cols, sigma: 0.02, seed: 3, name: "b")
        try TestModels.write(root, "base", [("model.layers.0.w", [rows, cols], base)])
        try TestModels.write(root, "ft", [("model.layers.0.w", [rows, cols], zip(base, delta).map(+))])
        let out = try TestModels.merge("""
            models: [{model: ft, parameters: {weight: 1.0, density: \(density)}}]
            merge_method: ties
            base_model: base
            """, root: root)
        let merged = try CheckpointContents.floats(out, "model.layers.0.w")
        let stored = try CheckpointContents.floats(root + "/ft", "model.layers.0.w")
        return merged.indices.filter { merged[$0] == stored[$0] && merged[$0] != base[$0] }
    }

    /// The k largest |δ| by a stable sort (lower index first among equal magnitudes).
    func reference(_ delta: [Float], k: Int) -> [Int] {
        Array(delta.indices.sorted { (abs(delta[$0]), -$0) > (abs(delta[$1]), -$1) }.prefix(k)).sorted()
    }

    @Test("continuous deltas: exactly the k largest are kept", arguments: [0.05, 0.5, 0.93])
    func continuous(density: Double) throws {
        let (rows, cols) = (512, 1024)
        // The stored fine-tune is base + δ rounded to Float32, so compare against the stored δ.
        let delta = TestModels.normal(rows * cols, sigma: 0.01, seed: 4, name: "d")
        let kept = try keptIndices(delta: delta, density: density, rows: rows, cols: cols)
        let base = TestModels.normal(rows * cols, sigma: 0.02, seed: 3, name: "b")
        let effective = zip(zip(base, delta).map(+), base).map { $0 - $1 }
        #expect(kept == reference(effective, k: Int(density * Double(rows * cols))))
    }

    @Test("heavily tied deltas: exactly k kept, ties broken by index")
    func tied() throws {
        let (rows, cols) = (512, 1024)
        // Only 9 distinct magnitudes (multiples of 1/64, exact in Float32 after adding to base 0).
        let delta = (0..<(rows * cols)).map { (i: Int) -> Float in
            let magnitude = Float((i &* 2_654_435_761) % 9) / 64
            return i % 3 == 0 ? -magnitude : magnitude
        }
        let root = TemporaryFolder.make("models")
        let zeros = [Float](repeating: 0, count: rows * cols)
        try TestModels.write(root, "base", [("model.layers.0.w", [rows, cols], zeros)])
        try TestModels.write(root, "ft", [("model.layers.0.w", [rows, cols], delta)])
        let out = try TestModels.merge("""
            models: [{model: ft, parameters: {weight: 1.0, density: 0.3}}]
            merge_method: ties
            base_model: base
            """, root: root)
        let merged = try CheckpointContents.floats(out, "model.layers.0.w")
        let kept = merged.indices.filter { merged[$0] != 0 }
        let k = Int(0.3 * Double(rows * cols))
        let expected = reference(delta, k: k).filter { delta[$0] != 0 }
        #expect(kept == expected)
    }
}
