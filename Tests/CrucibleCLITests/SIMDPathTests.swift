import Foundation
import Testing
import TensorIO
import TestSupport

/// One binary, two instruction paths: with `CRUCIBLE_SIMD=baseline` a merge takes the
/// baseline x86-64 code, without it the extensions the CPU has (`CPUFeatures`). Both must
/// write the same bytes.
@Suite struct SIMDPathTests {
    /// Every golden case and a seeded dare_ties merge, written as F16: through the F16C
    /// conversions and, for dare_ties, the AVX2 Philox draws where the CPU has them.
    @Test("every golden case and dare_ties, written as float16, are byte-identical on the baseline and the F16C/AVX2 paths",
          .enabled(if: CPUFeatures.f16c || CPUFeatures.avx2, "this CPU has neither F16C nor AVX2: both runs would take the baseline path"))
    func pathsAgree() throws {
        let golden = Fixtures.golden
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: golden + "/manifest.json"))) as! [String: Any]
        var configs = try (manifest["cases"] as! [String: [String: String]]).keys.sorted().map { name in
            (name, try String(contentsOfFile: "\(golden)/cases/\(name)/config.yml", encoding: .utf8))
        }
        configs.append(("dare_ties", """
            models:
              - {model: models/ft0, parameters: {weight: 0.5, density: 0.5}}
              - {model: models/ft2, parameters: {weight: 0.5, density: 0.4}}
            merge_method: dare_ties
            base_model: models/base
            """))
        let root = TemporaryFolder.make("simd")
        for (name, text) in configs {
            let config = "\(root)/\(name).yml"
            try (text.split(separator: "\n").filter { !$0.hasPrefix("dtype:") }.joined(separator: "\n") + "\ndtype: float16\n")
                .write(toFile: config, atomically: true, encoding: .utf8)
            var outputs: [Data] = []
            for simd in ["baseline", "default"] {
                let out = "\(root)/\(name)-\(simd)"
                let r = try ProcessRunner.shell("cd '\(golden)' && CRUCIBLE_SIMD=\(simd) '\(CrucibleBinary.path)' merge '\(config)' '\(out)' --random-seed 7 -q 2>&1")
                #expect(r.status == 0, "\(name) (\(simd)): \(r.stdout)")
                outputs.append((try? Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))) ?? Data())
            }
            #expect(!outputs[0].isEmpty && outputs[0] == outputs[1], "\(name): the two paths wrote different bytes")
        }
    }
}
