import ClusterRuntime
import Foundation
import Testing
import TestSupport

/// CURVE on the cluster socket with a ZAP allow-list: an authorised worker completes the job,
/// an unauthorised one is refused at the handshake and never gets a task.
@Suite(.serialized) struct SecurityTests {
    /// Writes key folders: the coordinator's (authorising only `allowed`) and each worker's.
    func keyFolders(workers: [String], allowed: Set<String>) throws -> (coordinator: String, workers: [String: String]) {
        let root = Harness.output("keys")
        let coordinator = root + "/coordinator"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let pair = try CurveKeyPair.generate()
        try pair.write(to: coordinator)
        try FileManager.default.createDirectory(atPath: coordinator + "/authorized", withIntermediateDirectories: true)
        var folders: [String: String] = [:]
        for name in workers {
            let folder = root + "/" + name
            let workerPair = try CurveKeyPair.generate()
            try workerPair.write(to: folder)
            try (pair.publicKey + "\n").write(toFile: folder + "/coordinator.public", atomically: true, encoding: .utf8)
            if allowed.contains(name) {
                try (workerPair.publicKey + "\n").write(toFile: coordinator + "/authorized/\(name).public", atomically: true, encoding: .utf8)
            }
            folders[name] = folder
        }
        return (coordinator, folders)
    }

    @Test("an unauthorised worker gets no task; an authorised one completes the job")
    func allowList() throws {
        let keys = try keyFolders(workers: ["good", "intruder"], allowed: ["good"])
        let config = try Harness.config("linear")
        let embedded = Harness.output("embedded"), out = Harness.output("secure")
        #expect(try Harness.crucible(["merge", config, embedded, "-q"]).status == 0)
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["merge", config, out, "--listen", endpoint, "--keys", keys.coordinator, "--local-workers", "0"])
        let intruder = try Harness.launch(["worker", "--connect", endpoint, "--keys", keys.workers["intruder"]!])
        #expect(Poll.until(10) { coordinator.output.contains("refused a worker") }, "\(coordinator.output)")
        Thread.sleep(forTimeInterval: 1)
        #expect(Harness.journalLines(out) == 1, "no task was done by the intruder")
        #expect(coordinator.process.isRunning && !coordinator.output.contains("joined"), "\(coordinator.output)")
        let good = try Harness.launch(["worker", "--connect", endpoint, "--keys", keys.workers["good"]!])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(good.wait(10) == 0)
        #expect(intruder.process.isRunning, "the intruder never heard from the coordinator")
        #expect(try Harness.tensors(out) == Harness.tensors(embedded))
    }

    @Test("--keys on the coordinator needs workers to authorise; a non-loopback --listen needs --keys or --insecure")
    func refusals() throws {
        let keys = try keyFolders(workers: [], allowed: [])
        let config = try Harness.config("linear")
        let noWorkers = try Harness.crucible(["merge", config, Harness.output("x"), "--listen", "tcp://127.0.0.1:0", "--keys", keys.coordinator])
        #expect(noWorkers.status != 0 && noWorkers.output.contains("authorized"), "\(noWorkers.output)")
        let open = try Harness.crucible(["merge", config, Harness.output("y"), "--listen", "tcp://0.0.0.0:0"])
        #expect(open.status != 0 && open.output.contains("--keys"), "\(open.output)")
    }
}
