import Foundation
import Testing
import TestSupport

/// Sweeps measured in place over remote `crucible worker` processes: every baseline and
/// variant is an eval task; the numbers equal the embedded run's bit for bit, with inputs
/// read or shipped, and when a worker is killed mid-sweep.
@Suite(.serialized) struct InPlaceSweepClusterTests {
    static let models = ["llama", "llama_tied"].map { Fixtures.repository + "/Tests/EvaluatorTests/Fixtures/" + $0 }

    /// A token file of `count` ids below the fixtures' vocabulary.
    static func tokenFile(_ count: Int) throws -> String {
        var rng = SplitMix64(seed: 11)
        let path = Harness.output("tokens") + ".json"
        try Data(("[" + (0..<count).map { _ in String(rng.next() % 192) }.joined(separator: ",") + "]").utf8)
            .write(to: URL(fileURLWithPath: path))
        return path
    }

    /// sweep.json's measured numbers: variants and baselines (metric, per-window losses) and the summary.
    static func numbers(_ out: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/sweep.json"))
        var json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["complete"] as? Bool == true)
        json["eval"] = nil  // its tokens/s differ from run to run
        return String(decoding: try JSONSerialization.data(withJSONObject: json, options: .sortedKeys), as: UTF8.self)
    }

    @Test("2 remote workers (one with inputs shipped) give the embedded sweep's numbers bit for bit; nothing is written")
    func twoWorkers() throws {
        let tokens = try InPlaceSweepClusterTests.tokenFile(1024)
        let common = ["--sigmas", "1e-2,1e-1", "--seeds", "0,1", "--eval-tokens", tokens, "--context", "32", "--antithetic", "-q"]
        let embedded = Harness.output("embedded"), clustered = Harness.output("cluster")
        let reference = try Harness.crucible(["sweep"] + InPlaceSweepClusterTests.models + ["--out", embedded] + common)
        #expect(reference.status == 0, "\(reference.output)")
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["sweep"] + InPlaceSweepClusterTests.models + ["--out", clustered] + common
                                              + ["--listen", endpoint, "--local-workers", "0", "--min-workers", "2", "--log-format", "json"])
        let reading = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        let shipped = try Harness.launch(["worker", "--connect", endpoint, "-j", "1", "--no-shared-storage"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(reading.wait(20) == 0 && shipped.wait(20) == 0)
        #expect(try InPlaceSweepClusterTests.numbers(clustered) == InPlaceSweepClusterTests.numbers(embedded))
        #expect(try FileManager.default.contentsOfDirectory(atPath: clustered).sorted() == [".sweep-state", "sensitivity.svg", "sweep.csv", "sweep.json"])
        #expect(coordinator.output.contains("gets inputs shipped"), "\(coordinator.output)")

        // The worker without the files got each model's weights once, however many of its tasks read them.
        let report = try #require(coordinator.output.split(separator: "\n").compactMap { line -> [String: Any]? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return object["event"] as? String == "report" ? object : nil
        }.last, "\(coordinator.output)")
        let workers = try #require(report["workers"] as? [[String: Any]])
        let receiver = try #require(workers.first { ($0["raw_bytes_out"] as? Int ?? 0) > 0 }, "\(workers)")
        let modelBytes = try InPlaceSweepClusterTests.models.reduce(0) {
            $0 + (try FileManager.default.attributesOfItem(atPath: $1 + "/model.safetensors")[.size] as! Int)
        }
        #expect(try #require(receiver["tasks"] as? Int) >= 3, "\(workers)")
        #expect(try #require(receiver["raw_bytes_out"] as? Int) <= modelBytes, "\(receiver)")
    }

    @Test("a worker SIGKILLed mid-sweep: its tasks are re-issued and the numbers are the embedded run's")
    func workerKilled() throws {
        let tokens = try InPlaceSweepClusterTests.tokenFile(6000)
        let model = [InPlaceSweepClusterTests.models[0]]
        let common = ["--sigmas", "1e-2,1e-1", "--seeds", "0,1", "--eval-tokens", tokens, "--context", "64", "--antithetic", "-q"]
        let embedded = Harness.output("embedded"), clustered = Harness.output("cluster")
        #expect(try Harness.crucible(["sweep"] + model + ["--out", embedded] + common).status == 0)
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["sweep"] + model + ["--out", clustered] + common
                                              + ["--listen", endpoint, "--local-workers", "0", "--heartbeat-ms", "100", "--liveness", "5"])
        let victim = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        // Once the victim has measured something (the baseline's line and a variant half), it dies holding a lease.
        let state = clustered + "/.sweep-state"
        #expect(Poll.until { ((try? String(contentsOfFile: state, encoding: .utf8))?.split(separator: "\n").count ?? 0) >= 2 })
        victim.signal(SIGSTOP)
        victim.signal(SIGKILL)
        victim.process.waitUntilExit()
        #expect(coordinator.process.isRunning, "killed mid-sweep")
        let replacement = try Harness.launch(["worker", "--connect", endpoint, "-j", "2"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        replacement.wait(10)
        #expect(try InPlaceSweepClusterTests.numbers(clustered) == InPlaceSweepClusterTests.numbers(embedded))
    }

    /// A JSON report without its timings.
    static func untimed(_ path: String) throws -> String {
        func strip(_ value: Any) -> Any {
            if let object = value as? [String: Any] {
                return object.filter { !["seconds", "tokens_per_second"].contains($0.key) }.mapValues(strip)
            }
            if let array = value as? [Any] { return array.map(strip) }
            return value
        }
        let json = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path)))
        return String(decoding: try JSONSerialization.data(withJSONObject: strip(json), options: .sortedKeys), as: UTF8.self)
    }

    /// `arguments --json FILE` embedded and over 2 remote workers (one with inputs shipped):
    /// both reports, untimed.
    static func embeddedAndOverWorkers(_ arguments: [String]) throws -> (embedded: String, clustered: String) {
        let embedded = Harness.output("embedded") + ".json", clustered = Harness.output("cluster") + ".json"
        let reference = try Harness.crucible(arguments + ["--json", embedded])
        #expect(reference.status == 0, "\(reference.output)")
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(arguments + ["--json", clustered, "--listen", endpoint, "--local-workers", "0", "--min-workers", "2"])
        let reading = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        let shipped = try Harness.launch(["worker", "--connect", endpoint, "-j", "1", "--no-shared-storage"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(reading.wait(10) == 0 && shipped.wait(10) == 0)
        return (try untimed(embedded), try untimed(clustered))
    }

    @Test("eval over 2 remote workers (one with inputs shipped), each model's windows split into shares: the embedded numbers")
    func evalOverWorkers() throws {
        let tokens = try InPlaceSweepClusterTests.tokenFile(700)
        let (embedded, clustered) = try InPlaceSweepClusterTests.embeddedAndOverWorkers(
            ["eval"] + InPlaceSweepClusterTests.models + ["--tokens", tokens, "--context", "32", "--stride", "24", "-q"])
        #expect(embedded.contains("\"windows\""))
        #expect(clustered == embedded)
    }

    @Test("score --drop-loss over 2 remote workers: one task per layer, the embedded scores")
    func scoreOverWorkers() throws {
        let tokens = try InPlaceSweepClusterTests.tokenFile(300)
        let (embedded, clustered) = try InPlaceSweepClusterTests.embeddedAndOverWorkers(
            ["score", InPlaceSweepClusterTests.models[0], "--tokens", tokens, "--context", "32", "--drop-loss", "-q"])
        #expect(embedded.contains("\"drop_loss\""))
        #expect(clustered == embedded)
    }

    @Test("drop-loss tasks on a worker with inputs shipped: it is sent every layer but the skipped one, and measures")
    func dropLossShipped() throws {
        let tokens = try InPlaceSweepClusterTests.tokenFile(200)
        let arguments = ["score", InPlaceSweepClusterTests.models[0], "--tokens", tokens, "--context", "32", "--drop-loss", "-q"]
        let embedded = Harness.output("embedded") + ".json", clustered = Harness.output("cluster") + ".json"
        #expect(try Harness.crucible(arguments + ["--json", embedded]).status == 0)
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(arguments + ["--json", clustered, "--listen", endpoint, "--local-workers", "0"])
        let shipped = try Harness.launch(["worker", "--connect", endpoint, "-j", "2", "--no-shared-storage"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(shipped.wait(10) == 0)
        #expect(!coordinator.output.contains("failed"), "\(coordinator.output)")
        #expect(try InPlaceSweepClusterTests.untimed(clustered) == InPlaceSweepClusterTests.untimed(embedded))
    }

    @Test("prune --tokens --drop --dry-run over a remote worker: the worker is released when the scoring ends")
    func pruneDryRunReleasesWorkers() throws {
        let tokens = try InPlaceSweepClusterTests.tokenFile(200)
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["prune", InPlaceSweepClusterTests.models[0], Harness.output("pruned"), "--tokens", tokens,
                                              "--context", "32", "--drop", "1", "--dry-run", "--listen", endpoint, "--local-workers", "0"])
        let worker = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(coordinator.output.contains("dropping layers"), "\(coordinator.output)")
        #expect(worker.wait(15) == 0, "the worker was not told the job ended: \(worker.output)")
    }
}
