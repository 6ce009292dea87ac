import CZMQ
import Foundation
import JobModel
import TensorIO
import WireCodec

/// How the coordinator serves workers.
public struct ClusterOptions: Sendable {
    /// Endpoints the remote ROUTER binds, e.g. `tcp://0.0.0.0:5555` (none: local workers only).
    public var endpoints: [String]
    /// Workers to wait for before handing out the first task.
    public var minWorkers = 1
    public var heartbeatMs = 1000
    /// Heartbeat intervals of silence after which a worker is dead.
    public var liveness = 5
    /// Most bytes (output, plus inputs shipped to it or that it fetches) leased to one worker at a time.
    public var creditBytes = 256 << 20
    /// A task that fails this many times (on different workers while there are others) fails
    /// the job; with no remote workers (no `endpoints`), its first failure does.
    public var maxFailures = 3
    /// Size of INPUT and RESULT chunks (uncompressed).
    public var chunkBytes = 4 << 20
    /// Compress payloads to and from remote workers (in-process workers write in place).
    public var compress = true
    /// False when another job follows on the same endpoints: remote workers stay for it.
    public var finalJob = true
    /// Threads that decode, verify and write remote result chunks (`ResultWriter`).
    public var resultThreads = min(4, max(2, ProcessInfo.processInfo.activeProcessorCount / 2))
    /// A lease is taken back when its worker makes no progress (no result chunk, no DONE) for
    /// `leaseSeconds` plus the time the task's bytes take at `leaseBytesPerSecond`.
    public var leaseSeconds = 120.0
    public var leaseBytesPerSecond = Double(1 << 20)
    /// Percent of the tasks (a fixed sample, 0 to 100) whose result from a remote worker is
    /// recomputed by another worker and compared bit for bit before it counts (`--verify`).
    public var verifyPercent = 0.0
    /// A remote worker that fails this many tasks in a row (ERROR, an incomplete DONE, a
    /// lease taken back) without finishing one is dropped.
    public var maxFailuresInARow = 3

    public init(endpoints: [String] = []) { self.endpoints = endpoints }
}

/// A job that could not complete.
public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
}

/// The job stopped on SIGINT or SIGTERM; its output folder is left for `--resume`.
public struct JobInterrupted: Error, CustomStringConvertible {
    public let signal: Int32
    public let tasksDone: Int
    public let tasksTotal: Int
    public var description: String {
        "stopped by signal \(signal) with \(tasksDone) of \(tasksTotal) tasks finished; run the same command with --resume to finish"
    }
}

/// A job that failed after some of its tasks were finished: the output folder and its
/// journal are kept, and the same command with `--resume` reuses that work.
public struct JobFailed: Error, CustomStringConvertible {
    public let underlying: Error
    public let tasksDone: Int
    public let tasksTotal: Int
    public var description: String {
        "\(underlying)\n(\(tasksDone) of \(tasksTotal) tasks were finished and are kept: run the same command with --resume to continue)"
    }
}

/// What one worker did, for the final report.
public struct WorkerReport: Sendable {
    public var name: String
    public var local: Bool
    public var threads: Int
    public var tasks = 0
    /// Tasks taken back from it (it failed them, died or left with them).
    public var retries = 0
    /// RESULT payload received (as sent, and uncompressed).
    public var bytesIn = 0
    public var rawBytesIn = 0
    /// INPUT payload shipped to it (as sent, and uncompressed).
    public var bytesOut = 0
    public var rawBytesOut = 0
    /// Input bytes of the tasks it finished that it read from its own disk, and that it
    /// fetched by range requests from a remote model's server.
    public var bytesRead = 0
    public var bytesFetched = 0
    public var seconds = 0.0
    /// Why it is gone, if it left before the end.
    public var gone: String?

    /// Uncompressed / sent bytes over everything it exchanged (1 when nothing was compressed).
    public var compressionRatio: Double {
        let sent = bytesIn + bytesOut
        return sent == 0 ? 1 : Double(rawBytesIn + rawBytesOut) / Double(sent)
    }
}

/// The coordinator (docs/protocol.md §5): leases a job's tasks to workers within each
/// worker's byte credit, ships inputs to workers that cannot read them, re-issues the
/// leases of workers that go silent, checks every result chunk against its own plan (size,
/// encoding bounds, checksum) before writing it at its offset, journals finished tasks, and
/// drops late or foreign results. Remote workers talk to `remote` (CURVE when keys are
/// given); in-process workers talk to `local` and write their results in place. Runs on the
/// calling thread until every task is written, the job fails, or a stop signal arrives.
public final class Coordinator {
    struct Peer: Hashable {
        var local: Bool
        var id: [UInt8]
    }

    struct WorkerState {
        var report: WorkerReport
        let joined = Date()
        var lastSeen = Date()
        var ready = false
        var sharedStorage = true
        /// With `sharedStorage`: whether it fetches each model's bytes from its server (else
        /// it reads them from disk).
        var fetches: [Bool] = []
        /// Payloads to and from it are LZ4-compressed (remote, and it speaks lz4).
        var compress = false
        /// How its results reach the output.
        let delivery: ResultDelivery
        var leased: Set<Int> = []
        var leasedBytes = 0
        var malformed = 0
        /// Tasks failed since it last finished one.
        var failuresInARow = 0
        /// Inputs it keeps from model-level tasks shipped to it (not shipped again), or that
        /// it fetched for them.
        var held: Set<TaskInput> = []

        /// Whether it fetches the bytes of model `model` from the model's server.
        func fetches(model: Int) -> Bool { fetches.indices.contains(model) && fetches[model] }
    }

    struct TaskState {
        var attempt = 0
        var owner: Peer?
        /// When the live lease is taken back unless its worker makes progress.
        var deadline = Date.distantFuture
        var done = false
        /// Checksums of the result chunks received for the live attempt, by (part, offset).
        var received: [[Int]: UInt64] = [:]
        var failures: [(worker: String, message: String)] = []
        /// What the live lease counts against its worker's credit.
        var cost = 0
        /// `--verify`: the part digests of each result delivered for a sampled task, by worker.
        var results: [(worker: String, digests: [UInt64])] = []
        /// Where remote workers' result chunks for the task are written (made at the first one).
        var sink: TaskSink?
    }

    /// Model-level tasks leased to one worker at a time (one computing, one queued behind it).
    static let modelTasksPerWorker = 2

    let job: any DistributedJob
    let tasks: [JobTask]
    let cluster: ClusterOptions
    let journal: Journal?
    let log: @Sendable (String) -> Void
    let progress: (@Sendable (JobProgress) -> Void)?

    private var workers: [Peer: WorkerState] = [:]
    private var departed: [WorkerReport] = []
    private var states: [TaskState]
    /// Bytes of each task's inputs, as shipped to a worker without the files.
    private let inputBytes: [Int]
    private var pending: [Int]
    private var doneCount = 0
    private var bytesDone = 0
    /// Input bytes of finished tasks fetched from remote models' servers, by all workers.
    private var bytesFetched = 0
    private var started = false
    private var sockets: [ZMQSocket] = []
    /// `--verify`: sampled tasks whose results agreed, and results that did not.
    private var verifiedCount = 0
    private var mismatchCount = 0
    /// Log lines about each peer, rate-limited (a hostile peer cannot flood the log).
    private var peerLog = PeerLogLimiter()
    /// Encodes inputs shipped to workers.
    private let codec = ChunkCodec()
    private let results: ResultWriter
    /// Result chunks of each task submitted to `results` and not yet accounted for.
    private var inHand: [Int: Int] = [:]
    /// A DONE that arrived while chunks of its task were still in hand.
    private var parkedDone: [Int: (done: Header.Done, peer: Peer)] = [:]
    private lazy var welcome = makeWelcome()
    private lazy var jobDigest = job.digest
    private var chunks: ChunkLayout { ChunkLayout(size: cluster.chunkBytes) }

    /// `reused` are tasks a resumed run found finished and verified.
    init(job: any DistributedJob, cluster: ClusterOptions, journal: Journal?, reused: Set<Int> = [],
                log: @escaping @Sendable (String) -> Void = { _ in }, progress: (@Sendable (JobProgress) -> Void)? = nil) {
        self.job = job
        self.tasks = job.tasks
        self.cluster = cluster
        self.journal = journal
        self.log = log
        self.progress = progress
        results = ResultWriter(threads: cluster.resultThreads)
        states = Array(repeating: TaskState(), count: tasks.count)
        inputBytes = tasks.map { task in task.inputs.reduce(0) { $0 + Coordinator.size(of: $1, in: job) } }
        for task in reused {
            states[task].done = true
            bytesDone += tasks[task].outputBytes
        }
        doneCount = reused.count
        pending = tasks.indices.filter { !reused.contains($0) }
    }

    /// Serves workers on `remote` (bound, or nil) and `local` (bound) until the job completes.
    func run(remote: ZMQSocket?, local: ZMQSocket, monitor: ZMQSocket? = nil) throws {
        // However the job ends, no chunk is written after this returns.
        defer { results.stop() }
        sockets = [local] + (remote.map { [$0] } ?? [])
        for socket in sockets {
            // A send to a peer that is gone, or whose queue is full because it stopped
            // reading, fails at once instead of blocking this loop; the peer is dropped.
            try socket.set(ZMQ_ROUTER_MANDATORY, Int32(1))
            try socket.set(ZMQ_SNDTIMEO, Int32(0))
        }
        // However the job ends, every worker is told to stop.
        defer { for peer in workers.keys { deliver(to: peer, .shutdown, Header.Shutdown(final: peer.local || cluster.finalJob)) } }
        var lastHeartbeat = Date.distantPast
        defer {
            if cluster.verifyPercent > 0 {
                log("coordinator: verify: \(verifiedCount) sampled task(s) recomputed by a second worker; \(mismatchCount) result(s) disagreed")
            }
        }
        while doneCount < tasks.count {
            if let signal = StopSignal.received { throw JobInterrupted(signal: signal, tasksDone: doneCount, tasksTotal: tasks.count) }
            let readable = try ZMQSocket.poll(sockets + (monitor.map { [$0] } ?? []), milliseconds: 20)
            if let monitor, readable[sockets.count] {
                while try monitor.poll(milliseconds: 0) {
                    guard let failure = try monitor.receiveHandshakeFailure() else { continue }
                    note(Peer(local: false, id: []), "coordinator: a connection on \(failure.endpoint) failed the handshake: \(failure.reason)")
                }
            }
            // Drain for at most 100 ms, so that heartbeats and expiry keep their pace however
            // many results are queued.
            let drainUntil = Date().addingTimeInterval(0.1)
            for (index, socket) in sockets.enumerated() where readable[index] {
                repeat {
                    let frames = try socket.receiveMultipart()
                    if frames.count >= 2 { try handle(Peer(local: index == 0, id: frames[0]), Array(frames.dropFirst())) }
                } while try Date() < drainUntil && socket.poll(milliseconds: 0)
            }
            try collectResults()
            expireSilentWorkers()
            try expireStalledLeases()
            if !started && workers.values.filter(\.ready).count >= cluster.minWorkers { started = true }
            if started { try assign() }
            if Date().timeIntervalSince(lastHeartbeat) * 1000 >= Double(cluster.heartbeatMs) {
                for peer in workers.keys { deliver(to: peer, .heartbeat, Header.Empty()) }
                lastHeartbeat = Date()
            }
        }
    }

    /// Tasks finished (this run's and those a resumed run reused).
    public var tasksDone: Int { doneCount }

    /// True when every task is done (a resumed job may have nothing left to compute).
    public var isComplete: Bool { doneCount == tasks.count }

    /// Every worker that took part, connected or gone, by name.
    public var workerReport: [WorkerReport] {
        (departed + workers.values.map { state in
            var report = state.report
            report.seconds = Date().timeIntervalSince(state.joined)
            return report
        }).sorted { $0.name < $1.name }
    }

    // MARK: Messages

    /// Sends a message to `peer`; a peer that cannot take it (gone, or not reading) is
    /// dropped and false returned. Never blocks.
    @discardableResult
    private func deliver<H: Encodable>(to peer: Peer, _ kind: MessageKind, _ header: H) -> Bool {
        do {
            try sockets[peer.local ? 0 : 1].send([peer.id] + ProtocolMessage(kind, header).frames)
            return true
        } catch {
            unreachable(peer, error)
            return false
        }
    }

    /// Drops a peer a send failed for.
    private func unreachable(_ peer: Peer, _ error: Error) {
        let reason = (error as? ZMQError)?.code == EAGAIN ? "is not reading its messages (its queue is full)" : "cannot be reached (\(error))"
        if workers[peer] != nil { drop(peer, because: reason) } else { note(peer, "coordinator: peer \(name(peer)) \(reason)") }
    }

    /// Logs a line about `peer`, unless it has had its share of lines lately (peers that
    /// have not said HELLO share one share, however many identities they use).
    private func note(_ peer: Peer, _ line: String) {
        let known = workers[peer] != nil
        switch peerLog.admit(known ? peer.id : []) {
        case .log: log(line)
        case .lastOne: log(line + " (further lines about \(known ? name(peer) : "peers that have not said HELLO") are suppressed for a minute)")
        case .suppress: break
        }
    }

    private func name(_ peer: Peer) -> String {
        workers[peer]?.report.name ?? "\(peer.local ? "local" : "unknown")/\(Coordinator.hex(peer.id))"
    }

    /// A short form of a routing id: its last 4 bytes (libzmq numbers the ids it assigns in
    /// their last bytes; Crucible's workers choose 16 random bytes).
    static func hex(_ id: [UInt8]) -> String { id.suffix(4).map { String(format: "%02x", $0) }.joined() }

    private func handle(_ peer: Peer, _ frames: [[UInt8]]) throws {
        let message: ProtocolMessage
        do {
            message = try ProtocolMessage(frames: frames)
        } catch {
            note(peer, "coordinator: dropped a message from \(name(peer)): \(error)")
            if case .version = error { deliver(to: peer, .error, Header.Failure(task: nil, attempt: nil, code: "version", message: "\(error)")) }
            noteMalformed(peer)
            return
        }
        if message.kind == .hello {
            guard let hello = decode(Header.Hello.self, message, from: peer) else { return }
            // The same identity starting over: it loses its leases, if it held any.
            if let old = workers[peer] { old.leased.isEmpty ? (workers[peer] = nil) : drop(peer, because: "said HELLO again") }
            let name = "\(peer.local ? "local" : hello.host)/\(Coordinator.hex(peer.id))"
            var state = WorkerState(report: WorkerReport(name: name, local: peer.local, threads: hello.threads),
                                    delivery: peer.local ? .inPlace : .chunks)
            state.compress = cluster.compress && !peer.local && hello.encodings.contains(WireEncoding.compressedName)
            workers[peer] = state
            var welcome = self.welcome
            welcome.compress = state.compress
            // A peer gone since its HELLO (killed, or reconnected with a new identity) is dropped.
            deliver(to: peer, .welcome, welcome)
            return
        }
        guard workers[peer] != nil else {
            // A worker of an earlier coordinator (before a restart): it says HELLO again.
            note(peer, "coordinator: a \(message.kind) from \(name(peer)), which has not said HELLO; told to say HELLO")
            deliver(to: peer, .error, Header.Failure(task: nil, attempt: nil, code: "unknown-peer", message: "say HELLO first"))
            return
        }
        workers[peer]!.lastSeen = Date()
        switch message.kind {
        case .heartbeat:
            break
        case .ready:
            guard let ready = decode(Header.Ready.self, message, from: peer) else { return }
            workers[peer]!.ready = true
            workers[peer]!.sharedStorage = ready.sharedStorage || peer.local
            workers[peer]!.fetches = (ready.reads ?? []).map { $0 == "fetch" }
            let fetched = workers[peer]!.fetches.contains(true) ? " (fetching the byte ranges of remote models)" : ""
            let storage = workers[peer]!.sharedStorage ? "reads the inputs itself\(fetched)" : "gets inputs shipped (\(ready.reason ?? "no shared storage"))"
            if !peer.local { log("coordinator: worker \(name(peer)) joined with \(workers[peer]!.report.threads) threads; \(storage)") }
        case .result:
            guard let chunk = decode(Header.Chunk.self, message, from: peer) else { return }
            try accept(chunk, payload: message.payload ?? [], from: peer)
        case .done:
            guard let done = decode(Header.Done.self, message, from: peer) else { return }
            try complete(done, from: peer)
        case .error:
            guard let failure = decode(Header.Failure.self, message, from: peer) else { return }
            try fail(failure, from: peer)
        default:
            note(peer, "coordinator: ignored an unexpected \(message.kind) from \(name(peer))")
            noteMalformed(peer)
        }
    }

    private func makeWelcome() -> Header.Welcome {
        let models = job.models.map { model in
            guard let remote = model.remote else {
                return Header.Model(path: FileSystem.absolute(model.path), files: model.files.map {
                    Header.ModelFile(path: FileSystem.absolute($0.path), size: $0.fileSize, headerDigest: $0.headerDigest)
                })
            }
            let files = model.files.map {
                Header.ModelFile(path: $0.path, size: $0.fileSize, headerDigest: $0.headerDigest,
                                 name: URL(string: $0.path)?.lastPathComponent, headerBytes: $0.header.dataStart)
            }
            return switch remote {
            case .hub(let repository, let commit):
                Header.Model(path: model.path, files: files, hub: Header.HubSource(repository: repository, commit: commit))
            case .folder(let url):
                Header.Model(path: model.path, files: files, url: url)
            }
        }
        return Header.Welcome(heartbeatMs: cluster.heartbeatMs, liveness: cluster.liveness, kind: job.kind,
                              setup: String(decoding: job.setup, as: UTF8.self), models: models,
                              chunkBytes: cluster.chunkBytes, compress: cluster.compress)
    }

    /// A message's header, or nil when it is malformed (logged with the peer and why).
    private func decode<H: Decodable>(_ type: H.Type, _ message: ProtocolMessage, from peer: Peer) -> H? {
        do {
            return try message.decode(type)
        } catch {
            note(peer, "coordinator: dropped a message from \(name(peer)): \(error)")
            noteMalformed(peer)
            return nil
        }
    }

    private func noteMalformed(_ peer: Peer) {
        guard workers[peer] != nil else { return }
        workers[peer]!.malformed += 1
        if workers[peer]!.malformed >= 16 { drop(peer, because: "sent 16 malformed messages") }
    }

    // MARK: Results

    /// True when `task`/`attempt` is the live lease of `peer`.
    private func isLease(_ task: Int, _ attempt: Int, of peer: Peer) -> Bool {
        task >= 0 && task < tasks.count && !states[task].done && states[task].owner == peer && states[task].attempt == attempt
    }

    private func accept(_ chunk: Header.Chunk, payload: [UInt8], from peer: Peer) throws {
        guard isLease(chunk.task, chunk.attempt, of: peer) else {
            note(peer, "coordinator: dropped a late or foreign result (task \(chunk.task) attempt \(chunk.attempt)) from \(name(peer))")
            return
        }
        let task = tasks[chunk.task]
        // Sizes come from the plan (`ChunkLayout`), never from the message.
        guard chunk.index >= 0 && chunk.index < task.parts.count else {
            note(peer, "coordinator: dropped a result for part \(chunk.index) of \(task.label) from \(name(peer)): no such part")
            noteMalformed(peer)
            return
        }
        let part = task.parts[chunk.index]
        guard let range = chunks.range(at: chunk.offset, of: part.bytes) else {
            note(peer, "coordinator: dropped a result with offset \(chunk.offset) for \(part.name) from \(name(peer))")
            noteMalformed(peer)
            return
        }
        let sink = try states[chunk.task].sink ?? TaskSink(inPlace: task.parts, of: job.output)
        states[chunk.task].sink = sink
        inHand[chunk.task, default: 0] += 1
        // Progress: the lease has its whole time again from now.
        states[chunk.task].deadline = max(states[chunk.task].deadline,
                                          Date().addingTimeInterval(leaseSeconds(chunk.task, cost: states[chunk.task].cost)))
        results.submit(ResultWriter.Chunk(peer: peer, header: chunk, part: part, expectedSize: range.count, sink: sink),
                       payload: payload)
    }

    /// Books the chunks `results` has written or rejected, and completes tasks whose DONE
    /// waited for them.
    private func collectResults() throws {
        for outcome in results.finished() {
            let chunk = outcome.chunk, header = chunk.header
            inHand[header.task]! -= 1
            switch outcome.result {
            case .written:
                if isLease(header.task, header.attempt, of: chunk.peer) {
                    states[header.task].received[[header.index, header.offset]] = header.checksum
                    workers[chunk.peer]!.report.bytesIn += outcome.payloadBytes
                    workers[chunk.peer]!.report.rawBytesIn += chunk.expectedSize
                }
            case .rejected(let error):
                note(chunk.peer, "coordinator: rejected a result chunk of \(chunk.part.name) from \(name(chunk.peer)): \(error)")
                noteMalformed(chunk.peer)
            case .failed(let message):
                throw ClusterError(description: "writing \(chunk.part.name) failed: \(message)")
            }
            if inHand[header.task] == 0 {
                inHand[header.task] = nil
                if let parked = parkedDone.removeValue(forKey: header.task) { try complete(parked.done, from: parked.peer) }
            }
        }
    }

    private func complete(_ done: Header.Done, from peer: Peer) throws {
        guard isLease(done.task, done.attempt, of: peer) else {
            note(peer, "coordinator: dropped a late or foreign DONE (task \(done.task) attempt \(done.attempt)) from \(name(peer))")
            return
        }
        guard inHand[done.task] == nil else {
            parkedDone[done.task] = (done, peer)
            return
        }
        let task = tasks[done.task]
        if let gap = workers[peer]!.delivery.incomplete(task, received: states[done.task].received, layout: chunks) {
            try failed(done.task, on: peer, gap)
            return
        }
        release(done.task, from: peer, reissue: false)
        workers[peer]!.failuresInARow = 0
        guard try stands(done.task, from: peer) else { return }
        if let journal {
            let persistent = task.parts.indices.filter { job.output.isPersistent(task.parts[$0]) }
            if !persistent.isEmpty { try journal.append(Journal.Entry(task: done.task, digests: try digests(done.task, from: peer, parts: persistent))) }
        }
        states[done.task].done = true
        states[done.task].sink = nil
        workers[peer]!.report.tasks += 1
        if workers[peer]!.sharedStorage {
            for input in task.inputs {
                let bytes = Coordinator.size(of: input, in: job)
                if workers[peer]!.fetches(model: input.model) {
                    workers[peer]!.report.bytesFetched += bytes
                    bytesFetched += bytes
                } else {
                    workers[peer]!.report.bytesRead += bytes
                }
            }
        }
        doneCount += 1
        bytesDone += task.outputBytes
        try job.taskFinished(done.task)
        progress?(JobProgress(tasksDone: doneCount, tasksTotal: tasks.count, bytesDone: bytesDone, bytesTotal: job.outputBytes,
                              current: task.label, workers: workers.count, bytesFetched: bytesFetched))
    }

    /// The digests (`JobOutput.digest`) of the result `peer` just delivered for `task`, for
    /// `parts`.
    private func digests(_ task: Int, from peer: Peer, parts: [Int]) throws -> [UInt64] {
        let delivery = workers[peer]!.delivery, received = states[task].received
        return try parts.map { try delivery.digest(tasks[task], part: $0, received: received, output: job.output, layout: chunks) }
    }

    /// True for the fixed sample of tasks `--verify` recomputes.
    private func isSampled(_ task: Int) -> Bool {
        guard cluster.verifyPercent > 0 else { return false }
        let key = [jobDigest.littleEndian, UInt64(task).littleEndian].withUnsafeBytes { XXHash64.hash($0) }
        return Double(key % 10_000) < cluster.verifyPercent * 100
    }

    /// With `--verify`, whether the result `peer` just delivered for `task` stands. The first
    /// remote result of a sampled task is recomputed by another worker; a result stands
    /// once another worker's result has the same digests, or when it was computed in
    /// process (the coordinator trusts its own process: a remote result it contradicts is
    /// wrong, and its worker is dropped). Results that disagree are logged with both
    /// workers, and the task runs again elsewhere; a task on which `maxFailures` + 1
    /// workers all disagree fails the job.
    private func stands(_ task: Int, from peer: Peer) throws -> Bool {
        let earlier = states[task].results
        guard isSampled(task), !(peer.local && earlier.isEmpty) else { return true }
        let digests = try digests(task, from: peer, parts: Array(tasks[task].parts.indices))
        let worker = name(peer)
        if earlier.contains(where: { $0.digests == digests }) || (peer.local && !earlier.isEmpty) {
            verifiedCount += 1
            for wrong in earlier where wrong.digests != digests {
                mismatchCount += 1
                log("coordinator: verify: \(tasks[task].label) from \(wrong.worker) differs from the result of \(worker)\(peer.local ? " (in process)" : "") and is replaced")
                if let (wrongPeer, _) = workers.first(where: { $0.value.report.name == wrong.worker && !$0.key.local }) {
                    drop(wrongPeer, because: "returned a wrong result for \(tasks[task].label) (tasks it finished earlier were not all checked; --verify 100 checks every task)")
                }
            }
            return true
        }
        states[task].results.append((worker, digests))
        if !earlier.isEmpty {
            log("coordinator: verify: \(tasks[task].label): the results of \(states[task].results.map(\.worker).joined(separator: ", ")) all differ; computing it again on another worker")
        }
        guard states[task].results.count <= cluster.maxFailures else {
            throw ClusterError(description: "\(tasks[task].label): \(states[task].results.count) workers returned different results (\(states[task].results.map(\.worker).joined(separator: ", "))); the workers do not compute alike")
        }
        requeue(task)
        return false
    }

    private func fail(_ failure: Header.Failure, from peer: Peer) throws {
        guard let task = failure.task, let attempt = failure.attempt, isLease(task, attempt, of: peer) else {
            note(peer, "coordinator: worker \(name(peer)) reports \(failure.code): \(failure.message)")
            if failure.task == nil { drop(peer, because: "cannot run this job") }
            return
        }
        try failed(task, on: peer, "\(failure.code): \(failure.message)")
    }

    /// Takes a failed lease back, logged: the task goes to another worker, the job fails
    /// once the task has failed `maxFailures` times, and a worker that fails
    /// `maxFailuresInARow` tasks in a row is dropped.
    private func failed(_ task: Int, on peer: Peer, _ message: String) throws {
        log("coordinator: \(tasks[task].label) failed on \(name(peer)): \(message); re-issued")
        states[task].failures.append((name(peer), message))
        release(task, from: peer, reissue: true)
        if workers[peer] != nil {
            // A worker that failed may have lost what it kept: ship it all again.
            workers[peer]!.held = []
            workers[peer]!.failuresInARow += 1
            // An embedded worker is this process: dropping it would only lose it, while its
            // failures (an input that cannot be read) count against the tasks.
            if workers[peer]!.failuresInARow >= cluster.maxFailuresInARow && !peer.local {
                drop(peer, because: "failed \(cluster.maxFailuresInARow) tasks in a row")
            }
        }
        // Retries go to other workers while there are any, so with enough workers this means
        // `maxFailures` different workers; with fewer, a task never fails more than that often.
        // Without remote workers, an in-process worker would only compute the same task from the
        // same inputs again (a read of them has been retried already): the first failure ends the job.
        let failures = states[task].failures
        if failures.count >= cluster.maxFailures || (peer.local && cluster.endpoints.isEmpty) {
            throw ClusterError(description: "\(tasks[task].label) failed \(failures.count == 1 ? "once" : "\(failures.count) times") on "
                + "\(Set(failures.map(\.worker)).count) worker(s): "
                + failures.map { "\($0.worker): \($0.message)" }.joined(separator: "; "))
        }
    }

    // MARK: Leases

    /// Bytes a lease of `task` to `worker` counts against its credit: the output, and the
    /// inputs shipped to it or that it fetches (held in its memory while the task runs; not
    /// those it holds already).
    private func cost(_ task: Int, for worker: WorkerState) -> Int {
        if worker.sharedStorage && !worker.fetches.contains(true) { return tasks[task].outputBytes }
        if !worker.sharedStorage && worker.held.isEmpty { return tasks[task].outputBytes + inputBytes[task] }
        let inMemory = tasks[task].inputs.reduce(0) { total, input in
            let carried = !worker.sharedStorage || worker.fetches(model: input.model)
            return total + (carried && !worker.held.contains(input) ? Coordinator.size(of: input, in: job) : 0)
        }
        return tasks[task].outputBytes + inMemory
    }

    /// How long a worker may take over `task`: a grace period plus the time its bytes
    /// (output, and inputs shipped) and its compute take at a slow floor rate.
    private func leaseSeconds(_ task: Int, cost: Int) -> Double {
        cluster.leaseSeconds + Double(cost + tasks[task].computeBytes) / cluster.leaseBytesPerSecond
    }

    /// Takes back leases whose workers made no progress in time (a hung or lying worker
    /// that still heartbeats); the worker is dropped, as it may hold others the same way.
    private func expireStalledLeases() throws {
        let now = Date()
        let stalled = workers.values.flatMap(\.leased).filter { states[$0].deadline < now && inHand[$0] == nil }.sorted()
        for task in stalled {
            guard let peer = states[task].owner else { continue }
            let seconds = Int(leaseSeconds(task, cost: states[task].cost))
            try failed(task, on: peer, "no progress within its \(seconds) s lease")
            drop(peer, because: "made no progress on \(tasks[task].label) within its \(seconds) s lease")
        }
    }

    /// Ends a lease; a re-issued task goes back to the front of the queue with a new attempt.
    private func release(_ task: Int, from peer: Peer, reissue: Bool) {
        states[task].owner = nil
        states[task].deadline = .distantFuture
        if workers[peer] != nil {
            workers[peer]!.leased.remove(task)
            workers[peer]!.leasedBytes -= states[task].cost
            if reissue { workers[peer]!.report.retries += 1 }
        }
        states[task].cost = 0
        if reissue { requeue(task) }
    }

    /// Puts a task back at the front of the queue with a new attempt.
    private func requeue(_ task: Int) {
        states[task].attempt += 1
        states[task].received = [:]
        pending.insert(task, at: 0)
    }

    /// Forgets a worker, re-issuing its leases; one that got as far as READY stays in the
    /// final report with the reason it left.
    private func drop(_ peer: Peer, because reason: String) {
        guard let state = workers[peer] else { return }
        if !state.leased.isEmpty || !peer.local { note(peer, "coordinator: worker \(name(peer)) \(reason); its \(state.leased.count) task(s) re-issued") }
        for task in state.leased { release(task, from: peer, reissue: true) }
        if state.ready {
            var report = workers[peer]!.report
            report.seconds = Date().timeIntervalSince(state.joined)
            report.gone = reason
            departed.append(report)
        }
        workers[peer] = nil
    }

    private func expireSilentWorkers() {
        let limit = Double(cluster.heartbeatMs * cluster.liveness) / 1000
        for (peer, worker) in workers where Date().timeIntervalSince(worker.lastSeen) > limit {
            drop(peer, because: "was silent for \(Int(limit)) s")
        }
    }

    /// Leases pending tasks to ready workers with credit left, least loaded first; a task
    /// avoids workers it already failed on while others are available, and a `--verify`
    /// recomputation goes only to a worker that has not computed the task yet.
    private func assign() throws {
        var position = 0
        while position < pending.count {
            let task = pending[position]
            // A task whose previous attempt still has chunks being written waits for them: its
            // new attempt's bytes must be the last ones written.
            guard inHand[task] == nil else { position += 1; continue }
            let candidates = workers.filter(\.value.ready).sorted {
                $0.value.leasedBytes != $1.value.leasedBytes ? $0.value.leasedBytes < $1.value.leasedBytes
                    : $0.key.id.lexicographicallyPrecedes($1.key.id)
            }
            let usable = candidates.filter { candidate in
                let worker = candidate.value
                // A model-level task computes long for its few bytes: one running, one queued.
                if tasks[task].keepsInputs && worker.leased.count(where: { tasks[$0].keepsInputs }) >= Coordinator.modelTasksPerWorker { return false }
                return worker.leasedBytes == 0 || worker.leasedBytes + cost(task, for: worker) <= cluster.creditBytes
            }
            guard !usable.isEmpty else { return }
            let computed = Set(states[task].results.map(\.worker)), failed = Set(states[task].failures.map(\.worker))
            // An idle worker first (tasks run side by side), then one holding more of the task's
            // inputs (kept from earlier tasks: not shipped or fetched again), then the least loaded.
            let eligible = usable.filter { !computed.contains($0.value.report.name) }
                .enumerated().sorted { a, b in
                    let (idleA, idleB) = (a.element.value.leased.isEmpty, b.element.value.leased.isEmpty)
                    if idleA != idleB { return idleA }
                    let (x, y) = (heldBytes(task, a.element.value), heldBytes(task, b.element.value))
                    return x != y ? x > y : a.offset < b.offset
                }.map(\.element)
            guard let (peer, worker) = eligible.first(where: { !failed.contains($0.value.report.name) }) ?? eligible.first else {
                position += 1
                continue
            }
            pending.remove(at: position)
            states[task].owner = peer
            // A worker computes its leases in order, so this one's time starts when those
            // leased before it are due.
            let queue = worker.leased.map { states[$0].deadline }.max() ?? .distantPast
            states[task].cost = cost(task, for: worker)
            states[task].deadline = max(Date(), queue).addingTimeInterval(leaseSeconds(task, cost: states[task].cost))
            workers[peer]!.leased.insert(task)
            workers[peer]!.leasedBytes += states[task].cost
            do {
                try lease(task, to: peer, shipping: !worker.sharedStorage)
            } catch let error as ZMQError {
                unreachable(peer, error)
            }
        }
    }

    /// Bytes of `task`'s inputs that `worker` holds.
    private func heldBytes(_ task: Int, _ worker: WorkerState) -> Int {
        worker.held.isEmpty ? 0 : tasks[task].inputs.reduce(0) { $0 + (worker.held.contains($1) ? Coordinator.size(of: $1, in: job) : 0) }
    }

    /// Bytes of input `input` of `job`.
    private static func size(of input: TaskInput, in job: any DistributedJob) -> Int {
        job.models[input.model].info(input.tensor)?.byteCount ?? 0
    }

    /// Sends TASK and, to a worker without the model files, the task's inputs as INPUT chunks
    /// (but those it keeps from an earlier model-level task).
    private func lease(_ index: Int, to peer: Peer, shipping: Bool) throws {
        let task = tasks[index]
        let attempt = states[index].attempt
        let views = shipping ? try task.inputs.map { try job.models[$0.model].tensor($0.tensor) } : []
        let held = shipping ? task.inputs.map { workers[peer]!.held.contains($0) } : []
        let fetches = !shipping && task.inputs.contains { workers[peer]!.fetches(model: $0.model) }
        try sockets[peer.local ? 0 : 1].send([peer.id] + ProtocolMessage(.task, Header.Task(
            task: index, attempt: attempt, work: String(decoding: task.work, as: UTF8.self), inputs: task.inputs, parts: task.parts,
            shipped: shipping ? zip(views, held).map { Header.ShippedInput(dtype: $0.dtype.rawValue, shape: $0.shape, bytes: $0.bytes.count, held: $1 ? true : nil) } : nil,
            keep: task.keepsInputs && (shipping || fetches) ? true : nil)).frames)
        // Messages reach a peer in order, so it holds these once this shipment is through: the
        // next task needing them says so instead of shipping them (a failure forgets it all).
        // A worker that fetches keeps what it fetched: later tasks reading it go to it first.
        if shipping && task.keepsInputs { workers[peer]!.held.formUnion(task.inputs) }
        if fetches && task.keepsInputs { workers[peer]!.held.formUnion(task.inputs.filter { workers[peer]!.fetches(model: $0.model) }) }
        for (input, view) in views.enumerated() where !held[input] {
            defer { view.release() }
            for range in chunks.ranges(view.bytes.count) {
                let offset = range.lowerBound
                let bytes = UnsafeRawBufferPointer(rebasing: view.bytes[range])
                let sent = try codec.encode(bytes, elementWidth: max(view.dtype.bitWidth / 8, 1), compress: workers[peer]!.compress) { encoded, payload in
                    let header = try ProtocolMessage(.input, Header.Chunk(task: index, attempt: attempt, index: input, offset: offset, size: bytes.count,
                                                                          encoding: encoded.encoding.rawValue, checksum: encoded.checksum))
                    try sockets[peer.local ? 0 : 1].send([peer.id] + header.headFrames, payload: payload)
                    return payload.count
                }
                workers[peer]!.report.bytesOut += sent
                workers[peer]!.report.rawBytesOut += bytes.count
            }
        }
    }
}
