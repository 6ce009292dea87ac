import CZMQ
import Foundation
import MergeEngine
import JobModel
import TensorIO

/// How the coordinator serves workers.
public struct ClusterOptions: Sendable {
    /// Endpoints the ROUTER binds, e.g. `tcp://0.0.0.0:5555`.
    public var endpoints: [String]
    /// Workers to wait for before handing out the first task.
    public var minWorkers = 1
    public var heartbeatMs = 1000
    /// Heartbeat intervals of silence after which a worker is dead.
    public var liveness = 5
    /// Most output bytes leased to one worker at a time (flow control).
    public var creditBytes = 256 << 20
    /// A task that fails this many times (on different workers while there are others) fails the job.
    public var maxFailures = 3
    /// Size of RESULT chunks (uncompressed).
    public var chunkBytes = 4 << 20
    /// Compress payloads of remote workers (in-process workers never compress).
    public var compress = true

    public init(endpoints: [String]) { self.endpoints = endpoints }
}

/// A job that could not complete.
public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
}

/// The coordinator (docs/protocol.md §5): leases the plan's tensors to workers within each
/// worker's byte credit, re-issues the leases of workers that go silent, checks every result
/// chunk against its own plan (size, encoding bounds, checksum) before writing it at its
/// offset, and drops late or foreign results. Runs on the calling thread until every tensor
/// is written or the job fails.
public final class Coordinator {
    struct WorkerState {
        let id: [UInt8]
        var host: String
        var lastSeen: Date
        var leased: Set<Int> = []
        var leasedBytes = 0
        var tasksDone = 0
        var bytesReceived = 0
        var malformed = 0
    }

    struct TaskState {
        var attempt = 0
        var owner: [UInt8]?
        var done = false
        var chunksReceived = Set<Int>()
        var failures: [(worker: String, message: String)] = []
    }

    let plan: MergePlan
    let options: MergeOptions
    let cluster: ClusterOptions
    let writer: CheckpointWriter
    let log: @Sendable (String) -> Void
    let progress: (@Sendable (JobProgress) -> Void)?

    private var workers: [[UInt8]: WorkerState] = [:]
    private var tasks: [TaskState]
    private var pending: [Int]
    private var doneCount = 0
    private var bytesDone = 0
    private var started = false

    public init(plan: MergePlan, options: MergeOptions, cluster: ClusterOptions, writer: CheckpointWriter,
                log: @escaping @Sendable (String) -> Void = { _ in }, progress: (@Sendable (JobProgress) -> Void)? = nil) {
        self.plan = plan
        self.options = options
        self.cluster = cluster
        self.writer = writer
        self.log = log
        self.progress = progress
        self.tasks = Array(repeating: TaskState(), count: plan.tensors.count)
        self.pending = Array(plan.tensors.indices)
    }

    /// Serves workers on `socket` (already bound) until the job completes.
    public func run(on socket: ZMQSocket) throws {
        try socket.set(ZMQ_ROUTER_MANDATORY, Int32(1))
        // Whether the job completes or fails, every worker is told to stop.
        defer { for id in workers.keys { try? send(socket, to: id, .shutdown, Header.Empty()) } }
        var lastHeartbeat = Date.distantPast
        while doneCount < tasks.count {
            var budget = 256
            while budget > 0, try socket.poll(milliseconds: budget == 256 ? 20 : 0) {
                budget -= 1
                let frames = try socket.receiveMultipart()
                guard frames.count >= 2 else { continue }
                try handle(frames[0], Array(frames.dropFirst()), socket)
            }
            expireSilentWorkers()
            if !started && workers.count >= cluster.minWorkers { started = true }
            if started { try assign(socket) }
            if Date().timeIntervalSince(lastHeartbeat) * 1000 >= Double(cluster.heartbeatMs) {
                for id in workers.keys { try? send(socket, to: id, .heartbeat, Header.Empty()) }
                lastHeartbeat = Date()
            }
        }
    }

    /// Per-worker statistics for the final report.
    public var workerReport: [(host: String, tasks: Int, bytes: Int)] {
        workers.values.map { ($0.host, $0.tasksDone, $0.bytesReceived) }.sorted { $0.host < $1.host }
    }

    /// `path` made absolute against the current directory (workers run elsewhere).
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    private func send<H: Encodable>(_ socket: ZMQSocket, to id: [UInt8], _ kind: MessageKind, _ header: H) throws {
        try socket.send([id] + ProtocolMessage(kind, header).frames)
    }

    private func name(_ id: [UInt8]) -> String {
        let host = workers[id]?.host ?? "unknown"
        return "\(host)/\(id.prefix(4).map { String($0, radix: 16) }.joined())"
    }

    private func handle(_ id: [UInt8], _ frames: [[UInt8]], _ socket: ZMQSocket) throws {
        let message: ProtocolMessage
        do {
            message = try ProtocolMessage(frames: frames)
        } catch {
            log("coordinator: dropped a message from \(name(id)): \(error)")
            if case .version = error { try? send(socket, to: id, .error, Header.Failure(task: nil, attempt: nil, code: "version", message: "\(error)")) }
            noteMalformed(id)
            return
        }
        if message.kind == .hello {
            guard let hello = try? message.decode(Header.Hello.self) else { noteMalformed(id); return }
            workers[id] = WorkerState(id: id, host: hello.host, lastSeen: Date())
            log("coordinator: worker \(name(id)) joined (\(hello.threads) threads)")
            try send(socket, to: id, .welcome, Header.Welcome(
                heartbeatMs: cluster.heartbeatMs, liveness: cluster.liveness, models: plan.checkpoints.map { Coordinator.absolute($0.path) },
                method: plan.method.name, seed: options.seed, outputDType: plan.outputDType.rawValue,
                chunkBytes: cluster.chunkBytes, compress: cluster.compress && hello.local != true))
            return
        }
        guard workers[id] != nil else {
            log("coordinator: ignored \(message.kind) from \(name(id)), which has not said HELLO")
            return
        }
        workers[id]!.lastSeen = Date()
        switch message.kind {
        case .heartbeat:
            break
        case .result:
            guard let header = try? message.decode(Header.Result.self) else { noteMalformed(id); return }
            try accept(header, payload: message.payload ?? [], from: id)
        case .done:
            guard let header = try? message.decode(Header.Done.self) else { noteMalformed(id); return }
            complete(header, from: id)
        case .error:
            guard let header = try? message.decode(Header.Failure.self) else { noteMalformed(id); return }
            try fail(header, from: id)
        default:
            log("coordinator: ignored an unexpected \(message.kind) from \(name(id))")
            noteMalformed(id)
        }
    }

    private func noteMalformed(_ id: [UInt8]) {
        guard workers[id] != nil else { return }
        workers[id]!.malformed += 1
        if workers[id]!.malformed >= 16 {
            log("coordinator: worker \(name(id)) sent 16 malformed messages; no longer served")
            drop(id)
        }
    }

    /// True when `task`/`attempt` is the live lease of worker `id`.
    private func isLease(_ task: Int, _ attempt: Int, of id: [UInt8]) -> Bool {
        task >= 0 && task < tasks.count && !tasks[task].done && tasks[task].owner == id && tasks[task].attempt == attempt
    }

    private func accept(_ header: Header.Result, payload: [UInt8], from id: [UInt8]) throws {
        guard isLease(header.task, header.attempt, of: id) else {
            log("coordinator: dropped a late or foreign result (task \(header.task) attempt \(header.attempt)) from \(name(id))")
            return
        }
        let tensor = plan.tensors[header.task]
        // Sizes come from the plan: chunk k covers [k·chunk, min((k+1)·chunk, total)).
        let chunk = cluster.chunkBytes
        guard header.offset >= 0, header.offset % chunk == 0, header.offset < max(tensor.outputBytes, 1) else {
            log("coordinator: dropped a result with offset \(header.offset) for \(tensor.name) from \(name(id))")
            noteMalformed(id)
            return
        }
        let expected = min(chunk, tensor.outputBytes - header.offset)
        let width = max(plan.outputDType.bitWidth / 8, 1)
        do {
            let bytes = try payload.withUnsafeBytes { (p) throws(WireError) in
                try ChunkCodec.decode(p, encoding: header.encoding, expectedSize: expected, elementWidth: width, checksum: header.checksum)
            }
            try bytes.withUnsafeBytes { try writer.write(tensor.name, at: header.offset, bytes: $0) }
            tasks[header.task].chunksReceived.insert(header.offset)
            workers[id]!.bytesReceived += payload.count
        } catch let error as WireError {
            log("coordinator: rejected a result chunk of \(tensor.name) from \(name(id)): \(error)")
            noteMalformed(id)
        }
    }

    private func complete(_ header: Header.Done, from id: [UInt8]) {
        guard isLease(header.task, header.attempt, of: id) else { return }
        let tensor = plan.tensors[header.task]
        let chunks = max(1, (tensor.outputBytes + cluster.chunkBytes - 1) / cluster.chunkBytes)
        guard tasks[header.task].chunksReceived.count == chunks || tensor.outputBytes == 0 else {
            release(header.task, from: id, reissue: true)
            log("coordinator: \(tensor.name) from \(name(id)) was incomplete; re-issued")
            return
        }
        release(header.task, from: id, reissue: false)
        tasks[header.task].done = true
        workers[id]!.tasksDone += 1
        doneCount += 1
        bytesDone += tensor.outputBytes
        progress?(JobProgress(tasksDone: doneCount, tasksTotal: tasks.count, bytesDone: bytesDone,
                                bytesTotal: plan.bytesToWrite, current: tensor.name, workers: workers.count))
    }

    private func fail(_ header: Header.Failure, from id: [UInt8]) throws {
        guard let task = header.task, let attempt = header.attempt, isLease(task, attempt, of: id) else {
            log("coordinator: worker \(name(id)) reports \(header.code): \(header.message)")
            if header.task == nil { drop(id) }
            return
        }
        tasks[task].failures.append((name(id), header.message))
        release(task, from: id, reissue: true)
        // Retries go to other workers while there are any, so with enough workers this means
        // `maxFailures` different workers; with fewer, a task never fails more than that often.
        let failures = tasks[task].failures
        if failures.count >= cluster.maxFailures {
            throw ClusterError(description: "tensor \(plan.tensors[task].name) failed \(failures.count) times on "
                + "\(Set(failures.map(\.worker)).count) worker(s): "
                + failures.map { "\($0.worker): \($0.message)" }.joined(separator: "; "))
        }
    }

    /// Ends a lease; a re-issued task goes back to the front of the queue with a new attempt.
    private func release(_ task: Int, from id: [UInt8], reissue: Bool) {
        tasks[task].owner = nil
        workers[id]?.leased.remove(task)
        workers[id]?.leasedBytes -= plan.tensors[task].outputBytes
        if reissue {
            tasks[task].attempt += 1
            tasks[task].chunksReceived = []
            pending.insert(task, at: 0)
        }
    }

    private func drop(_ id: [UInt8]) {
        for task in workers[id]?.leased ?? [] { release(task, from: id, reissue: true) }
        workers[id] = nil
    }

    private func expireSilentWorkers() {
        let limit = Double(cluster.heartbeatMs * cluster.liveness) / 1000
        for (id, worker) in workers where Date().timeIntervalSince(worker.lastSeen) > limit {
            log("coordinator: worker \(name(id)) silent for \(Int(limit)) s; its \(worker.leased.count) task(s) re-issued")
            drop(id)
        }
    }

    /// Leases pending tasks to workers with credit left, least loaded first; a task avoids
    /// workers it already failed on while others are available.
    private func assign(_ socket: ZMQSocket) throws {
        while !pending.isEmpty {
            let candidates = workers.values.sorted {
                $0.leasedBytes != $1.leasedBytes ? $0.leasedBytes < $1.leasedBytes : $0.id.lexicographicallyPrecedes($1.id)
            }
            let task = pending[0]
            let bytes = plan.tensors[task].outputBytes
            let failed = Set(tasks[task].failures.map(\.worker))
            let usable = candidates.filter { $0.leasedBytes == 0 || $0.leasedBytes + bytes <= cluster.creditBytes }
            guard let worker = usable.first(where: { !failed.contains(name($0.id)) }) ?? usable.first else { return }
            pending.removeFirst()
            tasks[task].owner = worker.id
            workers[worker.id]!.leased.insert(task)
            workers[worker.id]!.leasedBytes += bytes
            do {
                try send(socket, to: worker.id, .task, Header.Task(task: task, attempt: tasks[task].attempt, tensor: plan.tensors[task]))
            } catch {
                log("coordinator: cannot reach worker \(name(worker.id)): \(error)")
                drop(worker.id)
            }
        }
    }
}
