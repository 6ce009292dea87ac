import Dispatch
import Foundation
import JobModel
import MergeEngine
import TensorIO

/// A merge run by a coordinator: the plan's tensors are computed by remote workers that
/// connect to `cluster.endpoints` and by `localWorkers` in-process workers on inproc, and
/// assembled into the output folder, which appears only when complete.
public enum ClusterMerge {
    public static func run(_ plan: MergePlan, to directory: String, options: MergeOptions, cluster: ClusterOptions,
                           localWorkers: Int, log: @escaping @Sendable (String) -> Void = { _ in },
                           progress: (@Sendable (JobProgress) -> Void)? = nil) throws -> MergeReport {
        let start = Date()
        let specs = plan.tensors.map { SafeTensorsLayout.Spec(name: $0.name, dtype: plan.outputDType, shape: $0.shape) }
        let writer = try CheckpointWriter(directory: directory, tensors: specs, shardBudget: options.shardBudget)
        let context = try ZMQContext()
        let group = DispatchGroup()
        do {
            let socket = try ZMQSocket(context, .router, maxMessageSize: Int64(cluster.chunkBytes) * 2 + (1 << 20))
            try socket.setHeartbeat(interval: Int32(cluster.heartbeatMs), timeout: Int32(cluster.heartbeatMs * cluster.liveness))
            for endpoint in cluster.endpoints {
                try socket.bind(endpoint)
                log("coordinator: listening on \(try socket.lastEndpointFor(endpoint))")
            }
            let inproc = "inproc://crucible-coordinator-\(UUID().uuidString)"
            try socket.bind(inproc)
            let threadsEach = max(1, options.threads / max(localWorkers, 1))
            // Each local worker's socket loop blocks in poll, so it gets a thread of its own:
            // on Dispatch's pool it would starve the compute work queued behind it.
            for _ in 0..<localWorkers {
                var workerOptions = WorkerOptions(endpoint: inproc, threads: threadsEach)
                workerOptions.isLocal = true
                let worker = Worker(context: context, options: workerOptions, log: log)
                group.enter()
                Thread {
                    do { try worker.run() } catch { log("local worker: \(error)") }
                    group.leave()
                }.start()
            }
            let coordinator = Coordinator(plan: plan, options: options, cluster: cluster, writer: writer, log: log, progress: progress)
            // The coordinator tells every worker to stop however the job ends; local workers
            // must be gone before the context (and the writer's mappings) go away.
            defer { group.wait() }
            try coordinator.run(on: socket)
            socket.close()
            try OutputFiles.write(plan, options: options, into: writer)
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
        fatalError()
    }

    /// True for endpoints only this machine can reach (loopback, inproc, ipc).
    public static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let host = endpoint.dropFirst(6).split(separator: ":").dropLast().joined(separator: ":")
        return host.hasPrefix("127.") || host == "localhost" || host == "[::1]"
    }
}

extension ZMQSocket {
    /// The bound address for `endpoint` (resolves a `*` port); the endpoint itself otherwise.
    func lastEndpointFor(_ endpoint: String) throws -> String {
        endpoint.hasSuffix(":*") || endpoint.hasSuffix(":0") ? try lastEndpoint() : endpoint
    }
}
