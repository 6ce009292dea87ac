import ClusterRuntime
import CZMQ
import Foundation
import Testing
import TestSupport

/// The coordinator against peers that vanish, stall, flood, fail or lie, and resumes of
/// outputs that were interrupted, finished or tampered with (the hardening issue's items).
@Suite(.serialized) struct CoordinatorHardeningTests {
    /// A remote-only coordinator that starts once `minWorkers` are ready.
    func coordinator(_ config: String, _ out: String, _ endpoint: String, minWorkers: Int = 2, _ extra: [String] = []) throws -> LaunchedProcess {
        try Harness.launch(["merge", config, out, "--listen", endpoint, "--local-workers", "0", "--min-workers", String(minWorkers)] + extra)
    }

    func embedded(_ config: String, _ extra: [String] = []) throws -> String {
        let out = Harness.output("embedded")
        #expect(try Harness.crucible(["merge", config, out, "-q"] + extra).status == 0)
        return out
    }

    /// Runs the linear merge on a remote-only coordinator (started once the rogue and one
    /// honest worker are ready) while `rogue` answers every TASK with `answer`; the job must
    /// complete byte-identical to the embedded merge. Returns the coordinator's log and the rogue.
    func jobBeside(_ answer: @escaping (RawPeer, Header.Task) throws -> Void, _ extra: [String] = []) throws -> (log: String, rogue: RawPeer) {
        let config = try Harness.config("linear")
        let out = Harness.output("out"), endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let job = try coordinator(config, out, endpoint, extra)
        let rogue = try RawPeer(endpoint)
        let worker = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        try rogue.serve(for: 60, until: { !job.process.isRunning }, answer: answer)
        #expect(job.wait(30) == 0, "\(job.output)")
        worker.wait(10)
        #expect(try Harness.tensors(out) == Harness.tensors(try embedded(config)))
        return (job.output, rogue)
    }

    @Test("a peer answering every task with an empty DONE is dropped after 3 failures; no livelock, output identical")
    func emptyDoneIsAFailure() throws {
        let (log, _) = try jobBeside { peer, task in
            try peer.say(.done, Header.Done(task: task.task, attempt: task.attempt, chunks: 0))
        }
        #expect(log.contains("failed 3 tasks in a row"), "\(log)")
        #expect(log.split(separator: "\n").count < 300, "no livelock: \(log.split(separator: "\n").count) log lines")
    }

    @Test("a peer that heartbeats and never answers loses its leases at the task deadline; the job completes")
    func stalledLeasesAreTakenBack() throws {
        let (log, rogue) = try jobBeside({ _, _ in }, ["--task-timeout", "1"])
        #expect(!rogue.tasks.isEmpty, "the silent peer was leased tasks")
        #expect(log.contains("within its 1 s lease"), "\(log)")
    }

    @Test("a peer sending 30,000 HELLOs without reading never blocks the coordinator")
    func floodOfHellos() throws {
        let config = try Harness.config("linear")
        let out = Harness.output("out"), endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let job = try coordinator(config, out, endpoint, minWorkers: 1)
        let rogue = try RawPeer(endpoint, receiveHighWaterMark: 1)
        try rogue.socket.set(ZMQ_SNDTIMEO, Int32(0))
        var sent = 0
        let until = Date().addingTimeInterval(20)
        while sent < 30_000 && Date() < until {
            if (try? rogue.say(.hello, Header.Hello(threads: 1, host: "flood", encodings: []))) != nil { sent += 1 } else { Thread.sleep(forTimeInterval: 0.001) }
        }
        #expect(Poll.until(30) { job.output.contains("is not reading its messages") }, "sent \(sent): \(job.output)")
        let worker = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        #expect(job.wait(60) == 0, "\(job.output)")
        worker.wait(10)
        #expect(job.output.split(separator: "\n").count < 300, "rate-limited log: \(job.output.split(separator: "\n").count) lines")
        #expect(try Harness.tensors(out) == Harness.tensors(try embedded(config)))
    }

    @Test("a job that fails after tasks were finished keeps OUT.partial; --resume reuses them")
    func failureKeepsResumableState() throws {
        let config = try Harness.config("linear")
        let out = Harness.output("out"), endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let job = try coordinator(config, out, endpoint, minWorkers: 1)
        let worker = try Harness.launch(["worker", "--connect", endpoint, "-j", "1", "--crash-after-tasks", "5"])
        #expect(worker.wait() == 137)
        #expect(Poll.until { Harness.journalLines(out) >= 6 }, "\(job.output)")
        // A peer fails one task every time it is given it (and holds the others): the task
        // fails three times and the job fails.
        let rogue = try RawPeer(endpoint, host: "failing")
        var failing: Int?
        try rogue.serve(for: 30, until: { !job.process.isRunning }) { peer, task in
            if failing == nil { failing = task.task }
            guard task.task == failing else { return }
            try peer.say(.error, Header.Failure(task: task.task, attempt: task.attempt, code: "compute", message: "out of luck"))
        }
        #expect(job.wait(30) == 1, "\(job.output)")
        #expect(job.output.contains("failed on failing/") && job.output.contains("compute: out of luck"), "each ERROR is logged: \(job.output)")
        #expect(job.output.contains("--resume"), "\(job.output)")
        #expect(Harness.journalLines(out) >= 6, "the journal is kept")
        let resumed = try Harness.crucible(["merge", config, out, "--resume"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let reused = resumed.output.firstMatch(of: /Resumed: (\d+) tensors reused/).flatMap { Int($0.1) } ?? 0
        #expect(reused >= 5, "\(resumed.output)")
        #expect(try Harness.tensors(out) == Harness.tensors(try embedded(config)))
    }

    @Test("--resume never writes or deletes through a symbolic link in place of OUT.partial or inside it")
    func symbolicLinksAreRefused() throws {
        let config = try Harness.config("linear")
        let victim = TemporaryFolder.make("victim")
        let precious = victim + "/model.safetensors.partial"
        try Data("precious".utf8).write(to: URL(fileURLWithPath: precious))
        // OUT.partial is a link to another folder.
        let out = Harness.output("out")
        try FileManager.default.createSymbolicLink(atPath: out + ".partial", withDestinationPath: victim)
        let first = try Harness.crucible(["merge", config, out, "--resume"])
        #expect(first.status == 1 && first.output.contains("symbolic link"), "\(first.output)")
        // OUT.partial holds a link to a file elsewhere.
        let other = Harness.output("other")
        try FileManager.default.createDirectory(atPath: other + ".partial", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: other + ".partial/model.safetensors.partial", withDestinationPath: precious)
        let second = try Harness.crucible(["merge", config, other, "--resume"])
        #expect(second.status == 1 && second.output.contains("symbolic link"), "\(second.output)")
        #expect(try String(contentsOfFile: precious, encoding: .utf8) == "precious")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim) == ["model.safetensors.partial"])
    }

    @Test("--resume with another --out-shard-size is refused before anything changes; with the same one it finishes")
    func resumeWithAnotherLayout() throws {
        let config = try Harness.config("linear")
        let out = Harness.output("out"), endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let job = try coordinator(config, out, endpoint, minWorkers: 1, ["--out-shard-size", "100K"])
        let worker = try Harness.launch(["worker", "--connect", endpoint, "-j", "1", "--crash-after-tasks", "5"])
        #expect(worker.wait() == 137)
        #expect(Poll.until { Harness.journalLines(out) >= 6 }, "\(job.output)")
        job.signal(SIGKILL)
        job.process.waitUntilExit()
        let before = try FileManager.default.contentsOfDirectory(atPath: out + ".partial").sorted()
        let journal = try Data(contentsOf: URL(fileURLWithPath: out + ".partial/.crucible-journal"))
        let refused = try Harness.crucible(["merge", config, out, "--resume", "--out-shard-size", "200K"])
        #expect(refused.status == 1 && refused.output.contains("--out-shard-size"), "\(refused.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + ".partial").sorted() == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + ".partial/.crucible-journal")) == journal)
        // A different chunk size only changes how digests are made: the work is reused.
        let resumed = try Harness.crucible(["merge", config, out, "--resume", "--out-shard-size", "100K", "--chunk-bytes", "4096"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let reused = resumed.output.firstMatch(of: /Resumed: (\d+) tensors reused/).flatMap { Int($0.1) } ?? 0
        #expect(reused >= 5, "\(resumed.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".partial") } == [])
        #expect(try Harness.tensors(out) == Harness.tensors(try embedded(config, ["--out-shard-size", "100K"])))
    }

    @Test("--resume on a finished output checks it and exits 0; another job's output is refused")
    func resumeOfAFinishedOutput() throws {
        let config = try Harness.config("linear")
        let out = try embedded(config)
        let files = try Harness.tensors(out)
        // As a crash right after the final rename leaves it: the journal is still inside.
        try Data("crucible-journal 2 0 4096\n".utf8).write(to: URL(fileURLWithPath: out + "/.crucible-journal"))
        let again = try Harness.crucible(["merge", config, out, "--resume"])
        #expect(again.status == 0 && again.output.contains("already complete"), "\(again.output)")
        #expect(!FileManager.default.fileExists(atPath: out + "/.crucible-journal"))
        #expect(try Harness.tensors(out) == files)
        let other = try Harness.crucible(["merge", config, out, "--resume", "--out-dtype", "bfloat16"])
        #expect(other.status == 1 && other.output.contains("not this job's output"), "\(other.output)")
    }

    @Test("--verify 100: a worker returning wrong values with valid checksums is caught, dropped, and its results replaced")
    func verifyCatchesWrongResults() throws {
        let config = try Harness.config("linear")
        let out = Harness.output("out"), endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let job = try Harness.launch(["merge", config, out, "--listen", endpoint, "--local-workers", "1", "-j", "1",
                                      "--min-workers", "2", "--verify", "100"])
        let liar = try RawPeer(endpoint, host: "liar")
        try liar.serve(for: 60, until: { !job.process.isRunning }) { peer, task in
            try peer.sendWrongResult(task, chunkBytes: 4 << 20)
        }
        #expect(!liar.tasks.isEmpty, "the liar was leased tasks")
        #expect(job.wait(30) == 0, "\(job.output)")
        #expect(job.output.contains("differs from the result of"), "\(job.output)")
        #expect(job.output.contains("returned a wrong result"), "\(job.output)")
        #expect(try Harness.tensors(out) == Harness.tensors(try embedded(config)))
    }

    @Test("a plaintext worker against a CURVE coordinator is logged with its address and why")
    func plaintextPeerIsLogged() throws {
        let keys = Harness.output("keys")
        let pair = try CurveKeyPair.generate()
        try pair.write(to: keys)
        try FileManager.default.createDirectory(atPath: keys + "/authorized", withIntermediateDirectories: true)
        try (try CurveKeyPair.generate().publicKey + "\n").write(toFile: keys + "/authorized/w.public", atomically: true, encoding: .utf8)
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let job = try Harness.launch(["merge", try Harness.config("linear"), Harness.output("out"), "--listen", endpoint, "--keys", keys,
                                      "--local-workers", "0"])
        defer { job.kill() }
        let plaintext = try Harness.launch(["worker", "--connect", endpoint])
        defer { plaintext.kill() }
        #expect(Poll.until(15) { job.output.contains("a connection on \(endpoint) failed the handshake") }, "\(job.output)")
        #expect(job.output.contains("a worker without --keys against a CURVE coordinator"), "\(job.output)")
    }
}
