import Dispatch
import Foundation
import JobModel
import TensorIO

/// How a job runs: which endpoints remote workers connect to, how many in-process workers
/// help, whether to resume, and the CURVE keys.
public struct RuntimeOptions: Sendable {
    public var cluster: ClusterOptions
    /// In-process workers (the embedded default is one using every thread).
    public var localWorkers = 1
    /// Threads shared by the in-process workers.
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Reuse the verified results an interrupted run journaled.
    public var resume = false
    /// The coordinator's keys: remote workers must use CURVE with an authorised key.
    public var keys: KeyDirectory?

    public init(cluster: ClusterOptions = ClusterOptions()) { self.cluster = cluster }
}

/// What a finished job did.
public struct JobReport: Sendable {
    public let tasks: Int
    /// Tasks a resumed run found finished and verified.
    public let reused: Int
    public let seconds: Double
    public let workers: [WorkerReport]
}

/// Runs any job through the coordinator: the embedded default (in-process workers over
/// inproc, writing in place) and a cluster (remote workers over tcp, CURVE with keys) are
/// the same code. Finished tasks are journaled, and the journal is removed only after the
/// output is in place, so a crash at any moment leaves a job `--resume` finishes. A job
/// that stops (a signal) or fails after any task was finished keeps its output folder for
/// `--resume`; only a failure before any work deletes it.
public enum JobRuntime {
    public static func run(_ job: any DistributedJob, options: RuntimeOptions, log: @escaping @Sendable (String) -> Void = { _ in },
                           progress: (@Sendable (JobProgress) -> Void)? = nil) throws -> JobReport {
        let start = Date()
        var journal: Journal?
        var reused = Set<Int>()
        var coordinator: Coordinator?
        let chunks = ChunkLayout(size: options.cluster.chunkBytes)
        // A journal of another job is an error that must leave the interrupted output alone.
        let journaled = try job.output.journalPath.flatMap { options.resume ? try Journal.entries(at: $0, digest: job.digest) : nil }
        do {
            if let path = job.output.journalPath {
                var kept: [Journal.Entry] = []
                if let found = journaled {
                    (kept, reused) = try verify(found.entries, of: job, chunks: ChunkLayout(size: found.chunkBytes), now: chunks)
                    log("resume: reusing \(reused.count) of \(job.tasks.count) tasks (verified); \(found.entries.count - kept.count) journaled task(s) did not verify and are recomputed")
                }
                journal = try Journal(creating: path, digest: job.digest, chunkBytes: chunks.size, entries: kept)
            }
            let running = Coordinator(job: job, cluster: options.cluster, journal: journal, reused: reused, log: log, progress: progress)
            coordinator = running
            // A resumed job with nothing left to compute needs no worker.
            if !running.isComplete { try serve(job, running, options: options, log: log) }
            try job.finish()
            journal?.close()
            if let path = job.output.finishedJournalPath {
                FileSystem.remove(path)
                FileSystem.syncDirectory(FileSystem.parent(of: path))
            }
            return JobReport(tasks: job.tasks.count, reused: reused.count, seconds: Date().timeIntervalSince(start), workers: running.workerReport)
        } catch let stop as JobInterrupted {
            job.output.sync()
            journal?.close()
            throw stop
        } catch {
            journal?.close()
            guard journal != nil, (coordinator?.tasksDone ?? reused.count) > 0 else {
                job.abandon()
                throw error
            }
            job.output.sync()
            throw JobFailed(underlying: error, tasksDone: coordinator?.tasksDone ?? reused.count, tasksTotal: job.tasks.count)
        }
    }

    /// The journaled tasks whose persistent parts still hold the journaled bytes (digests of
    /// `chunks`), journaled again as digests of `now` chunks.
    static func verify(_ entries: [Journal.Entry], of job: any DistributedJob, chunks: ChunkLayout, now: ChunkLayout) throws -> ([Journal.Entry], Set<Int>) {
        var kept: [Journal.Entry] = []
        var reused = Set<Int>()
        for entry in entries where entry.task >= 0 && entry.task < job.tasks.count && !reused.contains(entry.task) {
            let parts = job.tasks[entry.task].parts
            guard parts.allSatisfy(job.output.isPersistent),
                  try parts.map({ try job.output.digest($0, chunks: chunks) }) == entry.digests else { continue }
            try parts.forEach(job.output.markWritten)
            kept.append(now == chunks ? entry : Journal.Entry(task: entry.task, digests: try parts.map { try job.output.digest($0, chunks: now) }))
            reused.insert(entry.task)
        }
        return (kept, reused)
    }

    /// Binds the sockets, starts the in-process workers and runs the coordinator.
    static func serve(_ job: any DistributedJob, _ coordinator: Coordinator, options: RuntimeOptions,
                      log: @escaping @Sendable (String) -> Void) throws {
        let cluster = options.cluster
        let context = try ZMQContext()
        let zap = try options.keys.map { try ZAPHandler(context: context, allowed: try $0.authorizedKeys(), log: log) }
        defer { zap?.stop() }
        let maxMessage = Int64(cluster.chunkBytes) * 2 + (1 << 20)
        var remote: ZMQSocket?, monitor: ZMQSocket?
        if !cluster.endpoints.isEmpty {
            let socket = try ZMQSocket(context, .router, maxMessageSize: maxMessage)
            try socket.setHeartbeat(interval: Int32(cluster.heartbeatMs), timeout: Int32(cluster.heartbeatMs * cluster.liveness))
            if let keys = options.keys { try socket.setCurveServer(keys.pair) }
            monitor = try socket.handshakeMonitor()
            for endpoint in cluster.endpoints {
                try socket.bind(endpoint)
                log("coordinator: listening on \(try socket.lastEndpointFor(endpoint))\(options.keys == nil ? "" : " (CURVE)")")
            }
            remote = socket
        }
        let local = try ZMQSocket(context, .router, maxMessageSize: maxMessage)
        let inproc = "inproc://crucible-coordinator-\(UUID().uuidString)"
        try local.bind(inproc)
        let group = DispatchGroup()
        let threadsEach = max(1, options.threads / max(options.localWorkers, 1))
        var localWorkers: [Worker] = []
        // Each local worker's socket loop blocks in poll, so it gets a thread of its own:
        // on Dispatch's pool it would starve the compute work queued behind it.
        for _ in 0..<options.localWorkers {
            var workerOptions = WorkerOptions(endpoint: inproc, threads: threadsEach, kinds: [job.jobKind])
            workerOptions.attachment = job
            let worker = Worker(context: context, options: workerOptions, log: log)
            localWorkers.append(worker)
            group.enter()
            Thread {
                do { try worker.run() } catch { log("local worker: \(error)") }
                group.leave()
            }.start()
        }
        // The coordinator tells every worker it knows to stop however the job ends (one whose
        // HELLO it never read is stopped directly); local workers, which write into the job's
        // output, must be gone before anything else happens to it.
        defer {
            localWorkers.forEach { $0.stop() }
            group.wait()
        }
        try coordinator.run(remote: remote, local: local, monitor: monitor)
    }

    /// True for endpoints only this machine can reach (loopback, inproc, ipc).
    public static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let address = endpoint.dropFirst(6)
        let host = address.lastIndex(of: ":").map { address[..<$0] } ?? address
        return host.hasPrefix("127.") || host == "localhost" || host == "[::1]"
    }
}

extension ZMQSocket {
    /// The bound address for `endpoint` (resolves a `*` port); the endpoint itself otherwise.
    func lastEndpointFor(_ endpoint: String) throws -> String {
        endpoint.hasSuffix(":*") || endpoint.hasSuffix(":0") ? try lastEndpoint() : endpoint
    }
}
