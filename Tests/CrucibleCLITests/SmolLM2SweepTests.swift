import Foundation
import Testing
import TensorIO
import TestSupport

/// Opt-in, on the real SmolLM2-135M-Instruct in Float32 (CRUCIBLE_SMOLLM2_F32=DIR,
/// CRUCIBLE_GPL3_TEXT=FILE, as SmolLM2PruneTests): a sweep of 4 σ × 2 seeds measured in place
/// writes nothing but its reports, and one variant's loss is bit-identical to `crucible eval`
/// of the same variant written with --keep all --out-dtype float32.
@Suite struct SmolLM2SweepTests {
    static let environment = ProcessInfo.processInfo.environment
    static let folder = environment["CRUCIBLE_SMOLLM2_F32"], text = environment["CRUCIBLE_GPL3_TEXT"]
    let cli = CLITests()

    func object(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    /// Bytes of every file under `folder`, reports and state excluded.
    func bytesWritten(_ folder: String) throws -> Int {
        let reports: Set<String> = ["sweep.json", "sweep.csv", "sensitivity.svg", ".sweep-state"]
        var total = 0
        let enumerator = FileManager.default.enumerator(atPath: folder)
        while let name = enumerator?.nextObject() as? String {
            guard !reports.contains(name) else { continue }
            let attributes = try FileManager.default.attributesOfItem(atPath: folder + "/" + name)
            if attributes[.type] as? FileAttributeType == .typeRegular { total += attributes[.size] as? Int ?? 0 }
        }
        return total
    }

    @Test(.enabled(if: folder != nil && text != nil, "set CRUCIBLE_SMOLLM2_F32=DIR and CRUCIBLE_GPL3_TEXT=FILE"))
    func sweepInPlaceWritesNothing() throws {
        let folder = try #require(Self.folder), text = try #require(Self.text)
        let window = ["--context", "256", "--max-tokens", "1024"]
        let out = cli.temporaryPath("smollm2-sweep")
        let s = try cli.run(["sweep", folder, "--out", out, "--sigmas", "1e-3,3e-3,1e-2,3e-2", "--seeds", "0,1",
                             "--eval-text", text] + window, timeout: 3600)
        #expect(s.status == 0, "\(s.stderr)")
        print(s.stdout)
        #expect(try bytesWritten(out) == 0)
        let variants = try #require(try object(out + "/sweep.json")["variants"] as? [[String: Any]])
        #expect(variants.count == 8)
        let chosen = try #require(variants.first { $0["sigma"] as? Double == 1e-2 && $0["seed"] as? Int == 1 })
        let inPlace = try #require(chosen["metric"] as? Double)

        let written = cli.temporaryPath("smollm2-written")
        let w = try cli.run(["sweep", folder, "--out", written, "--sigmas", "1e-2", "--seeds", "1", "--keep", "all",
                             "--out-dtype", "float32", "-q"], timeout: 3600)
        #expect(w.status == 0, "\(w.stderr)")
        let json = cli.temporaryPath("variant-eval.json")
        let e = try cli.run(["eval", written + "/" + (try #require(chosen["path"] as? String)), "--text", text, "--json", json, "-q"] + window,
                            timeout: 3600)
        #expect(e.status == 0, "\(e.stderr)")
        // Read exactly (TensorIO's parser keeps each number's text; Double(text) is exact).
        let evaluated = try #require(try exactly(json) { $0.objectValue?["models"]?.arrayValue?.first?.objectValue?["loss"] })
        let measured = try #require(try exactly(out + "/sweep.json") { root in
            root.objectValue?["variants"]?.arrayValue?.first {
                $0.objectValue?["sigma"]?.doubleValue == 1e-2 && $0.objectValue?["seed"]?.doubleValue == 1
            }?.objectValue?["metric"]
        })
        #expect(evaluated.bitPattern == measured.bitPattern, "in place \(measured), written and evaluated \(evaluated)")
        #expect(abs(measured - inPlace) < 1e-12)
    }

    /// The number `pick` finds in the JSON file at `path`, read exactly.
    func exactly(_ path: String, _ pick: (JSONValue) -> JSONValue?) throws -> Double? {
        pick(try JSONParser.parse(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)))?.doubleValue
    }
}
