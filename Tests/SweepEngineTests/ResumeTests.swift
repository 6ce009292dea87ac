import Foundation
import JobModel
import TensorIO
import Testing
import TestSupport
@testable import SweepEngine

/// An interrupted sweep continues with `resume`: recorded variants are kept, the rest is
/// computed, and everything ends as an uninterrupted sweep would.
@Suite struct SweepResumeTests {
    struct Interrupted: Error {}

    @Test("a sweep interrupted after its first batch resumes, computing only the other batches, with identical outputs and report")
    func resumeAfterInterruption() throws {
        let root = TemporaryFolder.make("sweep")
        let model = try SweepFixtures.model(root, "m", [("a.weight", [40, 50], SweepFixtures.normal(2000, std: 0.02, seed: 4))])
        func spec(_ out: String) -> SweepSpec {
            var spec = SweepFixtures.spec([model], out: out, sigmas: [1e-3, 1e-2], seeds: [0, 1, 2])
            spec.maxPending = 2
            spec.eval = "echo 0.5"
            return spec
        }
        let reference = root + "/reference"
        _ = try SweepFixtures.run(spec(reference))

        let out = root + "/resumed"
        var batches = 0
        // The first run dies while its second batch is running (after its variants were written).
        #expect(throws: Interrupted.self) {
            _ = try SweepRunner(plan: try SweepPlan(spec(out))).run { job, _ in
                try LocalJobRunner.run(job, runner: SweepTaskRunner(), threads: 2)
                batches += 1
                if batches == 2 { throw Interrupted() }
            }
        }
        // Without resume, the folder is refused; with it, only the unfinished variants run.
        #expect(throws: ProblemList.self) { try SweepPlan(spec(out)) }
        var resumed = spec(out)
        resumed.resume = true
        var computed: [Int] = []
        let results = try SweepRunner(plan: try SweepPlan(resumed)).run { job, _ in
            computed += (job as! SweepJob).variants.map(\.index)
            try LocalJobRunner.run(job, runner: SweepTaskRunner(), threads: 2)
        }
        #expect(computed == [2, 3, 4, 5], "batch 1 (variants 0, 1) was recorded; batch 2 was interrupted before its results were")
        #expect(results.variants.map(\.variant.index) == Array(0..<6))
        #expect(try String(contentsOfFile: out + "/sweep.json", encoding: .utf8)
            == String(contentsOfFile: reference + "/sweep.json", encoding: .utf8))
        for result in results.variants {
            let folder = result.variant.folder
            #expect(try CheckpointContents.bytes(out + "/" + folder, "a.weight") == CheckpointContents.bytes(reference + "/" + folder, "a.weight"))
        }
    }

    @Test("resuming with other options is refused")
    func resumeWithOtherOptions() throws {
        let root = TemporaryFolder.make("sweep")
        let model = try SweepFixtures.model(root, "m", [("a.weight", [10, 10], SweepFixtures.normal(100, std: 0.02, seed: 4))])
        _ = try SweepFixtures.run(SweepFixtures.spec([model], out: root + "/out", sigmas: [1e-3], seeds: [0]))
        var other = SweepFixtures.spec([model], out: root + "/out", sigmas: [1e-2], seeds: [0])
        other.resume = true
        #expect(throws: ProblemList.self) { _ = try SweepFixtures.run(other) }
    }

    @Test("a sweep started by a Crucible with another ε (sweep state 1) is not resumed, and says why")
    func resumeAcrossNoiseVersions() throws {
        let root = TemporaryFolder.make("sweep")
        let model = try SweepFixtures.model(root, "m", [("a.weight", [10, 10], SweepFixtures.normal(100, std: 0.02, seed: 4))])
        var spec = SweepFixtures.spec([model], out: root + "/out", sigmas: [1e-3], seeds: [0])
        _ = try SweepFixtures.run(spec)
        let state = root + "/out/" + SweepState.fileName
        let text = try String(contentsOfFile: state, encoding: .utf8)
        #expect(text.hasPrefix("crucible-sweep \(SweepState.version) "))
        try text.replacingOccurrences(of: "crucible-sweep \(SweepState.version) ", with: "crucible-sweep 1 ")
            .write(toFile: state, atomically: true, encoding: .utf8)
        spec.resume = true
        let error = #expect(throws: ProblemList.self) { _ = try SweepFixtures.run(spec) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("another version of Crucible, whose noise"))
    }
}
