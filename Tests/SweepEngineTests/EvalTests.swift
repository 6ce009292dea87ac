import Foundation
import JobModel
import Synchronization
import TensorIO
import Testing
import TestSupport
@testable import SweepEngine

@Suite struct EvalTests {
    static func smallModel(_ root: String, _ name: String = "m", seed: UInt64 = 1) throws -> String {
        try SweepFixtures.model(root, name, [("w", [40, 50], SweepFixtures.normal(2000, std: 0.02, seed: seed))])
    }

    @Test("an eval that fails for one variant: the others are still evaluated, the failure is in sweep.json")
    func failingEvalIsRecorded() throws {
        let root = TemporaryFolder.make("sweep")
        let model = try EvalTests.smallModel(root)
        let out = root + "/out"
        var spec = SweepFixtures.spec([model], out: out, sigmas: [1e-3, 1e-2], seeds: [0, 1])
        // Prints a line ending in σ (0 for the baseline), so Δmetric = σ; fails for σ=1e-2, seed 1.
        spec.eval = #"test -f "{model}/config.json" || exit 9; if [ "{sigma}" = 1e-2 ] && [ "{seed}" = 1 ]; then echo boom >&2; exit 3; fi; echo "loss after 12 steps: {sigma}""#
        let lines = Collected<String>()
        let results = try SweepFixtures.run(spec, log: { lines.append($0) })
        #expect(results.baselines.map(\.metric) == [0])
        #expect(results.variants.count == 4)
        for result in results.variants {
            if result.variant.sigma == 1e-2 && result.variant.seed == 1 {
                #expect(result.metric == nil)
                #expect(result.error == "exit status 3: boom")
            } else {
                #expect(result.metric == result.variant.sigma)
                #expect(result.error == nil)
            }
        }
        #expect(lines.values.contains { $0.contains("eval failed: exit status 3") })

        let json = try SweepFixtures.report(out)
        #expect(json["complete"] as? Bool == true)
        let variants = try #require(json["variants"] as? [[String: Any]])
        let failed = variants.filter { $0["error"] != nil }
        #expect(failed.count == 1)
        #expect(failed.first?["metric"] is NSNull)
        #expect(failed.first?["seed"] as? Int == 1)
        #expect(variants.filter { $0["metric"] as? Double != nil }.count == 3)
        let baseline = try #require(json["baseline"] as? [[String: Any]])
        #expect(baseline.first?["model"] as? String == model)
        #expect(baseline.first?["metric"] as? Double == 0)

        let csv = try String(contentsOfFile: out + "/sweep.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 5)
        #expect(csv[0] == "model,sigma,seed,path,metric,baseline_metric,delta,relative_noise,error")
        #expect(csv.contains { $0.hasSuffix("exit status 3: boom") })
        let svg = try String(contentsOfFile: out + "/sensitivity.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("<polyline"))
        #expect(svg.contains("<polygon"))
        #expect(FileManager.default.fileExists(atPath: out + "/logs/m_sigma1e-2_seed1.err"))
    }

    @Test("--keep none --max-pending 1 never has more than one variant folder on disk")
    func keepNoneBoundsTheDisk() throws {
        let root = TemporaryFolder.make("sweep")
        let a = try EvalTests.smallModel(root, "a", seed: 1)
        let b = try EvalTests.smallModel(root, "b", seed: 2)
        let out = root + "/out"
        let counts = root + "/counts.txt"
        var spec = SweepFixtures.spec([a, b], out: out, sigmas: [1e-3, 1e-2, 1e-1], seeds: [0, 1])
        spec.keep = .none
        spec.maxPending = 1
        // The eval itself counts the variant folders (finished or .partial) present when it runs.
        spec.eval = #"ls -d "\#(out)"/*_seed* 2>/dev/null | wc -l >> "\#(counts)"; echo 1.5"#

        // And a watcher polls the folder for the whole run.
        let stop = Atomic<Bool>(false)
        let maximum = Atomic<Int>(0)
        let polls = Atomic<Int>(0)
        let watcher = Thread {
            while !stop.load(ordering: .relaxed) {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
                let present = names.filter { $0.contains("_seed") }.count
                maximum.store(max(maximum.load(ordering: .relaxed), present), ordering: .relaxed)
                polls.wrappingAdd(1, ordering: .relaxed)
                usleep(200)
            }
        }
        watcher.start()
        let results = try SweepFixtures.run(spec)
        stop.store(true, ordering: .relaxed)
        while !watcher.isFinished { usleep(1000) }

        #expect(results.variants.count == 12)
        #expect(results.variants.allSatisfy { $0.metric == 1.5 })
        let seen = try String(contentsOfFile: counts, encoding: .utf8).split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(seen.count == 14)  // 2 baselines + 12 variants
        #expect(seen.max() == 1)
        #expect(seen.filter { $0 == 1 }.count == 12)
        #expect(maximum.load(ordering: .relaxed) <= 1)
        #expect(polls.load(ordering: .relaxed) > 10)
        let left = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains("_seed") }
        #expect(left.isEmpty)
        #expect((try SweepFixtures.report(out)["variants"] as? [Any])?.count == 12)
    }

    @Test("--keep none without --max-pending writes two variants per batch")
    func keepNoneDefaultBatch() throws {
        let root = TemporaryFolder.make("sweep")
        let model = try EvalTests.smallModel(root)
        var spec = SweepFixtures.spec([model], out: root + "/out", sigmas: [1e-3, 1e-2, 1e-1], seeds: [0])
        spec.keep = .none
        spec.eval = "echo 1"
        #expect(try SweepPlan(spec).batches == [[0, 1], [2]])
        spec.keep = .all
        #expect(try SweepPlan(spec).batches == [[0, 1, 2]])
    }

    @Test("a timed-out eval is killed and recorded")
    func evalTimeout() {
        let dir = TemporaryFolder.make("sweep")
        let outcome = EvalCommand("sleep 5; echo 1", timeout: 0.3).run(.init(model: "m", sigma: "0", seed: "0", base: "m"), log: dir + "/x")
        #expect(outcome.metric == nil)
        #expect(outcome.error?.hasPrefix("timed out") == true)
    }

    @Test("the metric is the last number on standard output", arguments: [
        ("3.25\n", 3.25), ("step 100 loss 2.5e-1\n", 0.25), ("ppl: 12\nfinal=-0.75 done\n", -0.75), ("a 1 b .5", 0.5), ("nan\n", .nan),
    ] as [(String, Double)])
    func lastNumber(text: String, expected: Double) {
        let value = EvalCommand.lastNumber(in: text)
        if expected.isNaN { #expect(value?.isNaN == true) } else { #expect(value == expected) }
    }

    @Test("no number, and substitution of every placeholder")
    func substitution() {
        #expect(EvalCommand.lastNumber(in: "information only\n") == nil)
        let command = EvalCommand("eval {model} {sigma} {seed} {base} {model}")
        #expect(command.command(.init(model: "/v", sigma: "1e-3", seed: "2", base: "/b")) == "eval /v 1e-3 2 /b /v")
        let dir = TemporaryFolder.make("sweep")
        let outcome = command.run(.init(model: "/v", sigma: "1e-3", seed: "2", base: "/b"), log: dir + "/y")
        #expect(outcome.metric == nil)
        let env = EvalCommand(#"echo "$CRUCIBLE_SIGMA""#).run(.init(model: "/v", sigma: "3e-4", seed: "2", base: "/b"), log: dir + "/z")
        #expect(env.metric == 3e-4)
    }
}

@Suite struct SweepConfigTests {
    @Test("the YAML form holds every option")
    func parsesYAML() throws {
        let spec = try SweepSpec.parse(yaml: """
            models:
              - ckpt/step-1000
              - model: ckpt/step-2000
            out: out/sweep
            sigmas: [1e-4, 3.0e-4, 0.001]
            seeds: 0,1,2
            scale: init
            init_std: 0.02
            include: ['\\.weight$']
            exclude: [norm, embed_tokens]
            eval: ./ppl.sh {model}
            eval_timeout: 600
            keep: none
            max_pending: 3
            out_dtype: float32
            out_shard_size: 2B
            copy_tokenizer: false
            """)
        #expect(spec.models == ["ckpt/step-1000", "ckpt/step-2000"])
        #expect(spec.outDir == "out/sweep")
        #expect(spec.sigmas == [1e-4, 3e-4, 1e-3])
        #expect(spec.seeds == [0, 1, 2])
        #expect(spec.scale == .initialization)
        #expect(spec.initStd == 0.02)
        #expect(spec.include == [#"\.weight$"#])
        #expect(spec.exclude == ["norm", "embed_tokens"])
        #expect(spec.eval == "./ppl.sh {model}")
        #expect(spec.evalTimeout == 600)
        #expect(spec.keep == KeepPolicy.none)
        #expect(spec.maxPending == 3)
        #expect(spec.outputDType == .f32)
        #expect(spec.shardBudget == 2_000_000_000)
        #expect(spec.copyTokenizer == false)
    }

    @Test("σ and seed lists parse the same on the command line and in YAML; a stray comma is an error in both")
    func listsParseAlike() throws {
        for (sigmas, seeds) in [("1e-4, 3e-4,1e-3", "0, 1,2"), ("0.5", "7")] {
            let yaml = try SweepSpec.parse(yaml: "sigmas: \"\(sigmas)\"\nseeds: \"\(seeds)\"\n")
            #expect(yaml.sigmas == (try SweepSpec.parseSigmas(sigmas)))
            #expect(yaml.seeds == (try SweepSpec.parseSeeds(seeds)))
        }
        #expect(try SweepSpec.parse(yaml: "sigmas: |\n  1e-3,\n  1e-2\n").sigmas == [1e-3, 1e-2], "a YAML block scalar")
        #expect(try SweepSpec.parse(yaml: "dtype: bfloat16\n").outputDType == .bf16, "mergekit's key for the output dtype")
        #expect(throws: ProblemList.self) { try SweepSpec.parseSigmas("1e-3,,1e-2") }
        #expect(throws: ProblemList.self) { try SweepSpec.parseSeeds("0,1,") }
        #expect {
            try SweepSpec.parse(yaml: "sigmas: 1e-3,,1e-2\nseeds: '0,1,'\n", source: "s.yml")
        } throws: { error in
            let problems = (error as? ProblemList)?.problems.map(\.description) ?? []
            return problems.count == 2 && problems.allSatisfy { $0.contains("empty item") }
        }
    }

    @Test("YAML problems are all reported")
    func yamlProblems() {
        #expect {
            try SweepSpec.parse(yaml: "models: [a]\nsigmas: [x]\nscale: huge\nsigma: 1\n", source: "s.yml")
        } throws: { error in
            let problems = (error as? ProblemList)?.problems.map(\.description) ?? []
            return problems.count == 3 && problems.contains { $0.contains("sigma: unknown key") }
                && problems.contains { $0.contains("\"x\" is not a number") } && problems.contains { $0.contains("scale") }
        }
    }

    @Test("plan problems are all reported before any weight is read")
    func planProblems() throws {
        let root = TemporaryFolder.make("sweep")
        let model = try SweepFixtures.model(root, "m", [("w", [4], [1, 2, 3, 4])], config: #"{"model_type": "llama"}"#)
        var spec = SweepFixtures.spec([model, root + "/missing"], out: root + "/out", sigmas: [-1, 1e-3, 1e-3], seeds: [])
        spec.keep = .none
        spec.scale = .initialization
        spec.include = ["nothing-matches", "("]
        #expect {
            try SweepPlan(spec)
        } throws: { error in
            let text = "\(error)"
            return ["σ = -1.0", "lists a value twice", "no seeds", "needs --eval", "not a valid regular expression",
                    "missing", "initializer_range"].allSatisfy { text.contains($0) }
        }
    }

    @Test("σ is written in its shortest scientific form")
    func sigmaFormat() {
        #expect(SweepPlan.format(1e-4) == "1e-4")
        #expect(SweepPlan.format(3e-4) == "3e-4")
        #expect(SweepPlan.format(0.0025) == "2.5e-3")
        #expect(SweepPlan.format(1) == "1e0")
        #expect(SweepPlan.format(0) == "0")
        #expect(SweepPlan.stems(["a/base/", "b/base", "x.safetensors"]) == ["base", "base-2", "x"])
    }
}

extension SweepConfigTests {
    @Test("a sweep config whose aliases expand past 100000 nodes is refused at once")
    func aliasBomb() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<9 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ") + "]\n" }
        yaml += "models: *a8\nexclude: {? *a7 : 1}\n"
        let text = yaml
        let outcome = finishes(within: 10) { () -> String in
            do { _ = try SweepSpec.parse(yaml: text, source: "s.yml"); return "" } catch { return "\(error)" }
        }
        guard case .success(let message)? = outcome else { Issue.record("parsing took more than 10 s"); return }
        #expect(message == "s.yml: YAML aliases expand to more than 100000 nodes")
    }
}

extension SweepConfigTests {
    @Test("a model or out path longer than the system's limit is refused, named by its length")
    func absurdPaths() {
        let path = String(repeating: "b", count: 1_000_000)
        let tooLong = "a path of 1000000 bytes (\"\(path.prefix(32))…\"), longer than the 4096 bytes a path can have"
        #expect {
            try SweepSpec.parse(yaml: "models: [ok, \(path)]\nout: \(path)\n", source: "s.yml")
        } throws: { error in
            (error as? ProblemList)?.problems.map(\.description) == ["s.yml: models: \(tooLong)", "s.yml: out: \(tooLong)"]
        }
    }
}
