import ClusterRuntime
import Foundation
import Testing
import TestSupport
import WireCodec

/// A coordinator and `crucible worker` processes over TCP loopback give the bytes of the
/// embedded default, when workers read the files themselves or have inputs shipped, and
/// when a worker is killed mid-job.
@Suite(.serialized) struct WorkerProcessTests {
    @Test("2 remote worker processes over tcp give the embedded default's bytes (one has its inputs shipped)",
          arguments: ["linear", "ties", "dare_ties", "slerp"])
    func twoWorkers(method: String) throws {
        let config = try Harness.config(method)
        let embedded = Harness.output("embedded"), clustered = Harness.output("cluster")
        let reference = try Harness.crucible(["merge", config, embedded, "-q", "--random-seed", "5"])
        #expect(reference.status == 0, "\(reference.output)")
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["merge", config, clustered, "--random-seed", "5", "--listen", endpoint,
                                              "--local-workers", "0", "--min-workers", "2"])
        let reading = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        // On loopback a worker asks for no compression unless told to: this one exercises LZ4 both ways.
        let shipped = try Harness.launch(["worker", "--connect", endpoint, "-j", "1", "--no-shared-storage", "--wire-compression", "always"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(reading.wait(10) == 0 && shipped.wait(10) == 0, "workers exit when the job is done")
        #expect(try Harness.tensors(clustered) == Harness.tensors(embedded))
        #expect(coordinator.output.contains("gets inputs shipped (--no-shared-storage)"), "\(coordinator.output)")
        #expect(coordinator.output.contains("compression"), "the per-worker table is printed: \(coordinator.output)")
    }

    @Test("compression is negotiated by name: planes-lz4 gets compressed payloads; an older build's lz4 or none gets raw ones")
    func encodingNegotiation() throws {
        let config = try Harness.config("linear")
        let out = Harness.output("negotiated")
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["merge", config, out, "--listen", endpoint, "--local-workers", "0"])
        let context = try ZMQContext()
        var offered: [Bool] = []
        for encodings in [[WireEncoding.compressedName], ["lz4"], []] {
            let socket = try ZMQSocket(context, .dealer)
            defer { socket.close() }
            try socket.connect(endpoint)
            try socket.send(ProtocolMessage(.hello, Header.Hello(threads: 1, host: "peer", encodings: encodings)).frames)
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                guard try socket.poll(milliseconds: 100), let message = try? ProtocolMessage(frames: socket.receiveMultipart()) else { continue }
                if message.kind == .welcome {
                    offered.append(try message.decode(Header.Welcome.self).compress)
                    break
                }
            }
        }
        #expect(offered == [true, false, false])
        // These peers never said READY, so they hold no task: a real worker does the job.
        let worker = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(worker.wait(10) == 0)
    }

    @Test("a worker killed with SIGKILL mid-job: its tasks are re-issued and the output is byte-identical")
    func workerKilledMidJob() throws {
        let config = try Harness.config("ties")
        let embedded = Harness.output("embedded"), clustered = Harness.output("cluster")
        #expect(try Harness.crucible(["merge", config, embedded, "-q"]).status == 0)
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["merge", config, clustered, "--listen", endpoint, "--local-workers", "0",
                                              "--heartbeat-ms", "100", "--liveness", "5"])
        let victim = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        // Once the victim has finished a task it is stopped, then killed: it dies holding leases.
        #expect(Poll.until { Harness.journalLines(clustered) >= 2 })
        victim.signal(SIGSTOP)
        let finishedBeforeKill = Harness.journalLines(clustered) - 1
        victim.signal(SIGKILL)
        victim.process.waitUntilExit()
        #expect(victim.process.terminationReason == .uncaughtSignal && victim.process.terminationStatus == SIGKILL)
        #expect(coordinator.process.isRunning, "killed mid-job: \(finishedBeforeKill) tasks were done")
        let replacement = try Harness.launch(["worker", "--connect", endpoint, "-j", "2"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        replacement.wait(10)
        // Noticed by silence, or at once when a send to it finds the connection gone.
        #expect(coordinator.output.contains("was silent") || coordinator.output.contains("cannot be reached"), "\(coordinator.output)")
        #expect(try Harness.tensors(clustered) == Harness.tensors(embedded))
    }

    /// Every variant folder's safetensors files, by folder and file name.
    func sweepOutputs(_ dir: String) throws -> [String: [String: Data]] {
        var all: [String: [String: Data]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where FileManager.default.fileExists(atPath: dir + "/" + name + "/config.json") {
            all[name] = try Harness.tensors(dir + "/" + name)
        }
        return all
    }

    @Test("a sweep over 2 remote workers (3 batches; one worker has its inputs shipped) gives the embedded sweep's bytes")
    func sweepOverWorkers() throws {
        let models = ["models/ft0", "models/ft1"]
        let common = ["--sigmas", "1e-3,1e-2", "--seeds", "0,1", "--max-pending", "3", "--exclude", "norm", "-q"]
        let embedded = Harness.output("embedded"), clustered = Harness.output("cluster")
        let reference = try Harness.crucible(["sweep"] + models + ["--out", embedded] + common)
        #expect(reference.status == 0, "\(reference.output)")
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["sweep"] + models + ["--out", clustered] + common
                                              + ["--listen", endpoint, "--local-workers", "0", "--min-workers", "2"])
        let reading = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        let shipped = try Harness.launch(["worker", "--connect", endpoint, "-j", "1", "--no-shared-storage"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(reading.wait(20) == 0 && shipped.wait(20) == 0, "workers stay for every batch and exit after the last")
        let expected = try sweepOutputs(embedded)
        #expect(expected.count == 8)
        #expect(try sweepOutputs(clustered) == expected)
    }

    @Test("analyze over 2 remote workers (one with inputs shipped) reports exactly the embedded numbers")
    func analyzeOverWorkers() throws {
        let arguments = ["analyze", "--base", "models/base", "models/ft0", "models/ft1", "models/ft2", "-q"]
        let embedded = Harness.output("embedded") + ".json", clustered = Harness.output("cluster") + ".json"
        let reference = try Harness.crucible(arguments + ["--json", embedded])
        #expect(reference.status == 0, "\(reference.output)")
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(arguments + ["--json", clustered, "--listen", endpoint, "--local-workers", "0", "--min-workers", "2"])
        let reading = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"])
        let shipped = try Harness.launch(["worker", "--connect", endpoint, "-j", "1", "--no-shared-storage"])
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(reading.wait(10) == 0 && shipped.wait(10) == 0)
        let expected = try String(contentsOfFile: embedded, encoding: .utf8)
        #expect(expected.contains("\"p99\""))
        #expect(try String(contentsOfFile: clustered, encoding: .utf8) == expected)
    }
}
