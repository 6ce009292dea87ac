import ClusterRuntime
import CZMQ
import Foundation
import MergeEngine
import Testing
import TensorIO

/// Merges through the coordinator and real workers give exactly the bytes of the embedded
/// merge, whoever computes, whoever dies, whatever garbage arrives.
@Suite struct ClusterMergeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let fixtures = URL(fileURLWithPath: repository).deletingLastPathComponent().appendingPathComponent("shared/fixtures/mergekit-golden").path
    static let binary: String = {
        let next = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("crucible").path
        return FileManager.default.isExecutableFile(atPath: next) ? next : repository + "/.build/debug/crucible"
    }()

    func output(_ label: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crucible-cluster-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(label).path
    }

    func plan(_ name: String) throws -> MergePlan {
        let text = try String(contentsOfFile: "\(Self.fixtures)/cases/\(name)/config.yml", encoding: .utf8)
        return try Planner.plan(try ConfigParser.parse(text), options: PlanOptions(workingDirectory: Self.fixtures))
    }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path + "/model.safetensors"))) }

    /// A free TCP port on loopback (bound, read, released).
    func freePort() throws -> Int {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .router)
        try socket.bind("tcp://127.0.0.1:*")
        let endpoint = try socket.lastEndpoint()
        socket.close()
        return Int(endpoint.split(separator: ":").last!)!
    }

    @Test("two in-process workers give the embedded merge's bytes", arguments: ["linear", "ties", "dare_ties_like", "slerp"])
    func inProcessWorkers(name: String) throws {
        let caseName = name == "dare_ties_like" ? "ties_gradient_filter" : name
        let embedded = output("embedded")
        let options = MergeOptions(threads: 2, seed: 3)
        _ = try MergeRunner.run(try plan(caseName), to: embedded, options: options)
        let clustered = output("cluster")
        _ = try ClusterMerge.run(try plan(caseName), to: clustered, options: options,
                                 cluster: ClusterOptions(endpoints: []), localWorkers: 2)
        #expect(try bytes(clustered) == bytes(embedded))
    }

    @Test("dare_ties over the cluster equals the embedded merge for the same seed")
    func randomizedMethodOverCluster() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("crucible-dare-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let yaml = """
            models:
              - {model: \(Self.fixtures)/models/ft0, parameters: {weight: 0.6, density: 0.4}}
              - {model: \(Self.fixtures)/models/ft2, parameters: {weight: 0.4, density: 0.7}}
            merge_method: dare_ties
            base_model: \(Self.fixtures)/models/base
            dtype: bfloat16
            """
        let options = MergeOptions(threads: 2, seed: 11)
        let embedded = output("embedded"), clustered = output("cluster")
        _ = try MergeRunner.run(try Planner.plan(try ConfigParser.parse(yaml)), to: embedded, options: options)
        _ = try ClusterMerge.run(try Planner.plan(try ConfigParser.parse(yaml)), to: clustered, options: options,
                                 cluster: ClusterOptions(endpoints: []), localWorkers: 3)
        #expect(try bytes(clustered) == bytes(embedded))
    }

    func launch(_ arguments: [String], in directory: String = fixtures) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test("a coordinator and two worker processes over TCP loopback give the embedded bytes, and a worker that dies mid-job is replaced")
    func workerProcesses() throws {
        for crash in [false, true] {
            let port = try freePort()
            let endpoint = "tcp://127.0.0.1:\(port)"
            let embedded = output("embedded"), clustered = output("cluster")
            _ = try MergeRunner.run(try plan("ties"), to: embedded, options: MergeOptions(threads: 2))
            let coordinator = try launch(["merge", "cases/ties/config.yml", clustered, "--listen", endpoint, "--local-workers", "0",
                                          "--min-workers", "2", "--heartbeat-ms", "100", "--liveness", "5", "-q"])
            let steady = try launch(["worker", "--connect", endpoint, "-j", "1"])
            let second = try launch(["worker", "--connect", endpoint, "-j", "1"] + (crash ? ["--crash-after-tasks", "2"] : []))
            let deadline = Date().addingTimeInterval(60)
            while coordinator.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if coordinator.isRunning { coordinator.terminate() }
            for worker in [steady, second] where worker.isRunning { worker.terminate() }
            #expect(coordinator.terminationStatus == 0, "coordinator exit (crash: \(crash))")
            #expect(try bytes(clustered) == bytes(embedded), "crash: \(crash)")
            if crash { #expect(second.terminationStatus == 137) }
        }
    }

    @Test("garbage from a rogue peer is dropped and the job still completes correctly")
    func hostilePeer() throws {
        let port = try freePort()
        let endpoint = "tcp://127.0.0.1:\(port)"
        let embedded = output("embedded"), clustered = output("cluster")
        _ = try MergeRunner.run(try plan("linear"), to: embedded, options: MergeOptions(threads: 2))
        let coordinator = try launch(["merge", "cases/linear/config.yml", clustered, "--listen", endpoint, "--local-workers", "0",
                                      "--min-workers", "2", "-q"])
        // The rogue says HELLO (so it counts as a worker), then sends every kind of garbage.
        let context = try ZMQContext()
        let rogue = try ZMQSocket(context, .dealer)
        try rogue.connect(endpoint)
        try rogue.send(ProtocolMessage(.hello, Header.Hello(threads: 1, host: "rogue")).frames)
        try rogue.send([[9, 1], Array("{}".utf8)])                                   // unknown version
        try rogue.send([[1, 99], Array("{}".utf8)])                                  // unknown type
        try rogue.send([[1, MessageKind.result.rawValue], Array("not json".utf8), [1, 2, 3]])  // malformed header
        try rogue.send(ProtocolMessage(.result, Header.Result(task: 0, attempt: 0, offset: 0, size: 4, encoding: 0, checksum: 0),
                                       payload: [0xFF, 0xFF, 0xFF, 0xFF]).frames)    // a result for a task it may hold, wrong checksum
        try rogue.send(ProtocolMessage(.done, Header.Done(task: 0, attempt: 0, chunks: 1)).frames)
        try rogue.send([[1]])                                                        // truncated
        let worker = try launch(["worker", "--connect", endpoint, "-j", "2"])
        // The rogue never computes what it is given: its leases expire and are re-issued.
        let deadline = Date().addingTimeInterval(60)
        while coordinator.isRunning && Date() < deadline {
            _ = try? rogue.poll(milliseconds: 50) ? rogue.receiveMultipart() : nil
        }
        rogue.close()
        if coordinator.isRunning { coordinator.terminate() }
        if worker.isRunning { worker.terminate() }
        #expect(coordinator.terminationStatus == 0)
        #expect(try bytes(clustered) == bytes(embedded))
    }

    @Test("a tensor that fails every time fails the job, naming it, with one worker too, and leaves no output")
    func failingTaskFailsTheJob() throws {
        // della needs density − epsilon > 0: every attempt at every tensor fails.
        let yaml = """
            models: [{model: \(Self.fixtures)/models/ft0, parameters: {weight: 1, density: 0.1, epsilon: 0.2}}]
            merge_method: della
            base_model: \(Self.fixtures)/models/base
            """
        for workers in [1, 3] {
            let out = output("failed")
            do {
                _ = try ClusterMerge.run(try Planner.plan(try ConfigParser.parse(yaml)), to: out, options: MergeOptions(threads: 1),
                                         cluster: ClusterOptions(endpoints: []), localWorkers: workers)
                Issue.record("the job should fail")
            } catch let error as ClusterError {
                #expect(error.description.contains("failed 3 times"), "\(error)")
                #expect(error.description.contains("density"), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: out))
            #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        }
    }
}
