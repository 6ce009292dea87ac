import Foundation
import Testing
import TestSupport

/// An interrupted coordinator leaves a journaled `.partial` folder that `--resume` finishes
/// byte-identically, reusing (and verifying) what was done.
@Suite(.serialized) struct ResumeTests {
    /// Starts a remote-only coordinator whose one worker dies after 5 tasks, so the job
    /// stalls mid-way with at least 5 tasks journaled.
    func stalledJob(_ config: String, _ out: String, endpoint: String) throws -> LaunchedProcess {
        let coordinator = try Harness.launch(["merge", config, out, "--listen", endpoint, "--local-workers", "0"])
        let worker = try Harness.launch(["worker", "--connect", endpoint, "-j", "1", "--crash-after-tasks", "5"])
        #expect(worker.wait() == 137, "\(worker.output)")
        #expect(Poll.until { Harness.journalLines(out) >= 6 }, "5 tasks journaled: \(coordinator.output)")
        #expect(coordinator.process.isRunning, "\(coordinator.output)")
        return coordinator
    }

    @Test("coordinator SIGKILLed mid-job: --resume completes byte-identical, reuses tasks, and a reconnecting worker helps")
    func coordinatorKilled() throws {
        let config = try Harness.config("ties")
        let embedded = Harness.output("embedded"), out = Harness.output("resumed")
        #expect(try Harness.crucible(["merge", config, embedded, "-q"]).status == 0)
        let port = try Harness.freePort()
        let endpoint = "tcp://127.0.0.1:\(port)"
        let first = try stalledJob(config, out, endpoint: endpoint)
        // A worker connects to the stopped coordinator, which is then killed: the worker must
        // notice, reconnect with backoff, and serve the resumed coordinator.
        first.signal(SIGSTOP)
        let worker = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        Thread.sleep(forTimeInterval: 0.3)
        first.signal(SIGKILL)
        first.process.waitUntilExit()
        #expect(FileManager.default.fileExists(atPath: out + ".partial"))
        #expect(!FileManager.default.fileExists(atPath: out))
        let refused = try Harness.crucible(["merge", config, out])
        #expect(refused.status == 1 && refused.output.contains("--resume"), "\(refused.output)")
        let second = try Harness.launch(["merge", config, out, "--resume", "--listen", endpoint, "--local-workers", "0"])
        #expect(second.wait() == 0, "\(second.output)")
        #expect(worker.wait(20) == 0, "the reconnected worker was told the job is done")
        let reused = second.output.firstMatch(of: /Resumed: (\d+) tensors reused/).flatMap { Int($0.1) } ?? 0
        #expect(reused >= 5, "\(second.output)")
        #expect(try Harness.tensors(out) == Harness.tensors(embedded))
    }

    @Test("a journaled tensor whose bytes were damaged is recomputed on resume")
    func damagedTensorIsRecomputed() throws {
        let config = try Harness.config("linear")
        let embedded = Harness.output("embedded"), out = Harness.output("resumed")
        #expect(try Harness.crucible(["merge", config, embedded, "-q"]).status == 0)
        let first = try stalledJob(config, out, endpoint: "tcp://127.0.0.1:\(try Harness.freePort())")
        first.signal(SIGKILL)
        first.process.waitUntilExit()
        // Flip one byte of the first tensor (the first journaled task) in the partial shard.
        let shard = out + ".partial/model.safetensors.partial"
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: shard))
        let headerLength = try handle.read(upToCount: 8)!.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        try handle.seek(toOffset: 8 + headerLength)
        let byte = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: 8 + headerLength)
        try handle.write(contentsOf: [byte ^ 0xFF])
        try handle.close()
        let second = try Harness.crucible(["merge", config, out, "--resume"])
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("1 journaled task(s) did not verify"), "\(second.output)")
        #expect(try Harness.tensors(out) == Harness.tensors(embedded))
    }

    @Test("SIGTERM stops the coordinator with status 130 and a resumable job")
    func sigtermLeavesResumableJob() throws {
        let config = try Harness.config("ties")
        let out = Harness.output("stopped")
        let coordinator = try stalledJob(config, out, endpoint: "tcp://127.0.0.1:\(try Harness.freePort())")
        coordinator.signal(SIGTERM)
        #expect(coordinator.wait(20) == 130, "\(coordinator.output)")
        #expect(coordinator.output.contains("--resume"), "\(coordinator.output)")
        let resumed = try Harness.crucible(["merge", config, out, "--resume"])
        #expect(resumed.status == 0 && resumed.output.contains("Resumed:"), "\(resumed.output)")
    }
}
