import CZMQ
import Dispatch
import Foundation
import JobModel
import Synchronization
import TensorIO
import WireCodec

/// How a worker connects and computes.
public struct WorkerOptions: Sendable {
    public var endpoint: String
    /// Threads to compute with, in all.
    public var threads: Int
    /// Tasks computed at once, sharing `threads` (nil: one per 4 threads, at least two). One
    /// task at a time leaves cores idle on small tensors and between a task's passes
    /// (docs/performance.md). Tasks of a runner that `computesAlone` still run one at a time.
    public var concurrentTasks: Int?
    /// Rewrites of model paths (coordinator's prefix → this host's prefix).
    public var modelRoots: [(from: String, to: String)] = []
    /// Never read model files here: the coordinator ships every input (for tests and hosts
    /// without the files).
    public var noSharedStorage = false
    /// Opens a remote model of WELCOME (`hub` or `url` set) that is not at its path here: a
    /// copy on this host's disk (a Hub cache snapshot; the worker checks it as any local copy),
    /// or the remote files, to fetch its tasks' byte ranges itself (it must check each file's
    /// size and header digest against the model's). Nil: such inputs are shipped.
    public var openRemote: (@Sendable (Header.Model) throws -> Checkpoint)?
    /// This worker's CURVE key pair and the coordinator's public key (`--keys DIR`).
    public var keys: (pair: CurveKeyPair, coordinator: String)?
    /// The kinds of job this worker runs (the executable that links the engines lists them).
    public var kinds: [any JobKind.Type]
    /// Whether payloads to and from this worker are compressed.
    public var compression = WireCompression.auto
    /// For tests: exit abruptly (no goodbye, status 137) once this many tasks are finished and sent.
    public var crashAfterTasks: Int?
    /// Longest wait for a WELCOME before saying HELLO again on a fresh connection.
    public var helloTimeoutMs = 10_000
    /// Set for a worker in the coordinator's own process: it reads the job's models and its
    /// tasks' sinks write straight into the job's output, so it sends only DONE.
    var attachment: (any DistributedJob)?

    public init(endpoint: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount, kinds: [any JobKind.Type]) {
        self.endpoint = endpoint
        self.threads = threads
        self.kinds = kinds
    }

    /// `concurrentTasks`, or one task per 4 threads and at least two (at most `threads`).
    public var tasksAtOnce: Int { max(1, min(concurrentTasks ?? max(2, threads / 4), threads)) }

    func mapped(_ path: String) -> String {
        for root in modelRoots where path.hasPrefix(root.from) { return root.to + path.dropFirst(root.from.count) }
        return path
    }
}

/// A worker (docs/protocol.md §5): connects a DEALER to the coordinator, says HELLO, sets
/// up for the job in WELCOME (reading inputs from its own copy of the models when size and
/// header digests match, otherwise asking for them to be shipped), and computes the tasks
/// it is leased on all its cores, sending each result in checksummed, compressed chunks
/// followed by DONE. The socket thread keeps heartbeating while a task computes. When the
/// coordinator goes silent it reconnects with a fresh identity and backs off; it returns
/// when the coordinator says SHUTDOWN.
public final class Worker: @unchecked Sendable {
    enum SessionEnd { case shutdown, lost }

    struct Completed {
        let session: Int
        let task: Int
        let attempt: Int
        let outcome: Result<TaskSink, Error>
    }

    let options: WorkerOptions
    let context: ZMQContext
    let log: @Sendable (String) -> Void

    /// Finished computations waiting to be sent by the socket thread.
    private let finished = NSLock()
    private var completed: [Completed] = []
    /// Held by a task whose runner `computesAlone` while it computes.
    private let alone = NSLock()
    /// Tasks scheduled and not yet finished (guarded by `finished`).
    private var unfinished = 0
    /// Runs up to `options.tasksAtOnce` tasks at once.
    private let compute = OperationQueue()
    private var tasksSent = 0
    /// The socket thread's wire codec (results out, shipped inputs in).
    private let codec = ChunkCodec()
    /// Set by `stop()`: the worker returns at its next turn of the socket loop.
    private let stopping = Atomic<Bool>(false)
    /// Each task's sink, chosen once for the worker: in place into the attached job's output,
    /// or buffers that `sendCompleted` encodes and sends.
    private let makeSink: @Sendable ([TaskPart]) throws -> TaskSink

    public init(context: ZMQContext, options: WorkerOptions, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.context = context
        self.options = options
        self.log = log
        if let output = options.attachment?.output {
            makeSink = { parts in try TaskSink(inPlace: parts, of: output) }
        } else {
            makeSink = { parts in TaskSink(buffering: parts) }
        }
        compute.name = "crucible.worker.compute"
        compute.maxConcurrentOperationCount = options.tasksAtOnce
    }

    /// Makes `run()` return soon, as SHUTDOWN would (for an in-process worker whose job ended
    /// before the coordinator read its HELLO).
    public func stop() { stopping.store(true, ordering: .releasing) }

    public func run() throws {
        // An in-process worker writes into the job's output: however this ends, nothing may
        // still be writing when it returns (tasks not started yet are dropped).
        defer {
            if options.attachment != nil {
                compute.cancelAllOperations()
                compute.waitUntilAllOperationsAreFinished()
            }
        }
        var session = 0
        var failedSessions = 0
        while true {
            session += 1
            let (end, welcomed) = try runSession(session, helloTimeoutMs: min(options.helloTimeoutMs, 1000 << min(failedSessions, 4)))
            if end == .shutdown { return }
            failedSessions = welcomed ? 0 : failedSessions + 1
            if failedSessions == 3 {
                log("worker: no answer from a coordinator at \(options.endpoint) yet; still trying (check the address\(options.keys == nil ? "" : " and keys"))")
            }
        }
    }

    /// What one connection knows: the job once welcomed, and inputs still arriving.
    private struct Session {
        let number: Int
        let socket: ZMQSocket
        var welcome: Header.Welcome?
        var runner: (any TaskRunner)?
        /// The job's models read here; nil when the coordinator ships inputs.
        var inputs: CheckpointInputs?
        /// The models being opened after WELCOME, off the socket thread (a remote model's
        /// headers take requests); READY goes out once they are.
        var opening: Opening?
        var shipments: [[Int]: ShippedInputs] = [:]
        /// Inputs kept from complete shipments of model-level tasks, for the job's later tasks.
        var kept: [TaskInput: TensorView] = [:]
        /// Remote tensors fetched by model-level tasks, for the job's later tasks.
        let fetched = FetchedInputs.Store()
        var lastHeard = Date()
    }

    /// One connection to the coordinator, from HELLO until SHUTDOWN or until it goes silent.
    private func runSession(_ number: Int, helloTimeoutMs: Int) throws -> (SessionEnd, welcomed: Bool) {
        let socket = try ZMQSocket(context, .dealer)
        defer { socket.close() }
        var generator = SystemRandomNumberGenerator()
        try socket.set(ZMQ_ROUTING_ID, bytes: (0..<16).map { _ in UInt8.random(in: 1...255, using: &generator) })
        try socket.setHeartbeat(interval: 1000, timeout: 10_000)
        try socket.set(ZMQ_RECONNECT_IVL, Int32(100))
        try socket.set(ZMQ_RECONNECT_IVL_MAX, Int32(5000))
        if let keys = options.keys { try socket.setCurveClient(keys.pair, server: keys.coordinator) }
        try socket.connect(options.endpoint)
        try send(socket, .hello, Header.Hello(threads: options.threads, host: ProcessInfo.processInfo.hostName,
                                              encodings: options.compression.speaksLZ4(to: options.endpoint) ? [WireEncoding.compressedName] : []))
        var session = Session(number: number, socket: socket)
        var lastHeartbeat = Date()
        while !stopping.load(ordering: .acquiring) {
            var budget = 64
            while budget > 0, try socket.poll(milliseconds: budget == 64 ? 20 : 0) {
                budget -= 1
                let message: ProtocolMessage
                do { message = try ProtocolMessage(frames: socket.receiveMultipart()) } catch {
                    log("worker: dropped a message from the coordinator: \(error)")
                    continue
                }
                session.lastHeard = Date()
                if let end = try handle(message, in: &session) { return (end, session.welcome != nil) }
            }
            // Silence is judged right after reading, before this thread gets busy sending: time
            // spent encoding results is not the coordinator's silence.
            let silence = Date().timeIntervalSince(session.lastHeard) * 1000
            if let welcome = session.welcome, silence > Double(welcome.heartbeatMs * welcome.liveness) {
                log("worker: the coordinator was silent for \(Int(silence / 1000)) s; reconnecting")
                return (.lost, true)
            }
            if session.welcome == nil, silence > Double(helloTimeoutMs) { return (.lost, false) }
            if Date().timeIntervalSince(lastHeartbeat) * 1000 >= Double(session.welcome?.heartbeatMs ?? 1000) {
                try send(socket, .heartbeat, Header.Empty())
                lastHeartbeat = Date()
            }
            if let opened = session.opening?.result {
                session.opening = nil
                try ready(opened, in: &session)
            }
            if let welcome = session.welcome {
                let sending = Date()
                try sendCompleted(socket, welcome, session: number)
                session.lastHeard = session.lastHeard.addingTimeInterval(Date().timeIntervalSince(sending))
            }
            if let limit = options.crashAfterTasks, tasksSent >= limit {
                Thread.sleep(forTimeInterval: 0.3)  // let the I/O thread deliver what was sent
                exit(137)
            }
        }
        return (.shutdown, session.welcome != nil)
    }

    /// Acts on one message from the coordinator; how the session ends, if it does.
    private func handle(_ message: ProtocolMessage, in session: inout Session) throws -> SessionEnd? {
        switch message.kind {
        case .welcome:
            try setUp(for: try message.decode(Header.Welcome.self), in: &session)
        case .task:
            // A TASK this worker cannot read is not its to answer: the lease's deadline
            // gives it to another worker.
            do { try accept(try message.decode(Header.Task.self), in: &session) } catch let error as ProtocolError {
                log("worker: dropped a task it cannot read: \(error)")
            }
        case .input:
            let chunk: Header.Chunk
            do { chunk = try message.decode(Header.Chunk.self) } catch {
                log("worker: dropped an input chunk: \(error)")
                return nil
            }
            try receive(chunk, payload: message.payload ?? [], in: &session)
        case .error:
            let failure = try? message.decode(Header.Failure.self)
            if failure?.code == "unknown-peer" { return .lost }
            log("worker: the coordinator says \(failure?.code ?? "error"): \(failure?.message ?? "")")
            if failure?.code == "version" { throw ClusterError(description: "the coordinator speaks another protocol version: \(failure?.message ?? "")") }
        case .heartbeat:
            break
        case .shutdown:
            guard (try? message.decode(Header.Shutdown.self))?.final == false else { return .shutdown }
            log("worker: job done; waiting for the next one")
            return .lost
        default:
            log("worker: ignored an unexpected \(message.kind) message")
        }
        return nil
    }

    /// WELCOME: builds the job kind's runner and says READY, with or without the model files.
    private func setUp(for welcome: Header.Welcome, in session: inout Session) throws {
        guard welcome.chunkBytes > 0, welcome.heartbeatMs > 0, welcome.liveness > 0 else {
            throw ClusterError(description: "the coordinator's WELCOME is malformed (chunkBytes, heartbeatMs and liveness must be positive)")
        }
        guard let kind = options.kinds.first(where: { $0.name == welcome.kind }) else {
            try send(session.socket, .error, Header.Failure(task: nil, attempt: nil, code: "unsupported", message: "this worker cannot run \(welcome.kind) jobs"))
            throw ClusterError(description: "the coordinator runs a \(welcome.kind) job, which this worker cannot run")
        }
        do {
            session.runner = try kind.runner(setup: Array(welcome.setup.utf8))
        } catch {
            try send(session.socket, .error, Header.Failure(task: nil, attempt: nil, code: "unsupported", message: "\(error)"))
            throw ClusterError(description: "cannot set up for the coordinator's \(welcome.kind) job: \(error)")
        }
        session.welcome = welcome
        let opening = Opening()
        session.opening = opening
        DispatchQueue.global().async { [self] in opening.finish(openModels(welcome)) }
    }

    /// The models are open (or will be shipped): READY.
    private func ready(_ storage: Opening.Models, in session: inout Session) throws {
        session.inputs = storage.inputs
        if let reason = storage.reason { log("worker: inputs will be shipped: \(reason)") }
        try send(session.socket, .ready, Header.Ready(sharedStorage: storage.inputs != nil, reason: storage.reason,
                                                      reads: storage.inputs == nil ? nil : storage.reads))
    }

    /// The job's models, opened on another thread while the socket thread keeps heartbeating.
    final class Opening: Sendable {
        typealias Models = (inputs: CheckpointInputs?, reads: [String], reason: String?)
        private let slot = Mutex<Models?>(nil)

        func finish(_ models: Models) { slot.withLock { $0 = models } }
        /// The models once opened, else nil.
        var result: Models? { slot.withLock { $0 } }
    }

    /// TASK: computes it from this host's files, or waits for its shipped inputs.
    private func accept(_ task: Header.Task, in session: inout Session) throws {
        func refuse(_ why: String) throws {
            try send(session.socket, .error, Header.Failure(task: task.task, attempt: task.attempt, code: "input", message: why))
        }
        guard let runner = session.runner, let welcome = session.welcome else { return try refuse("no usable WELCOME") }
        if task.shipped != nil {
            do {
                let shipment = try ShippedInputs(task, chunks: welcome.chunks, kept: session.kept)
                if shipment.isComplete { start(shipment, runner, in: &session) } else { session.shipments[[task.task, task.attempt]] = shipment }
            } catch {
                try refuse("\(error)")
            }
        } else if let inputs = session.inputs {
            inputs.prefetch(task.inputs)
            schedule(task, runner, FetchedInputs(files: inputs, inputs: task.inputs, kept: session.fetched, keep: task.keep == true), session.number)
        } else {
            try refuse("inputs were not shipped and cannot be read here")
        }
    }

    /// INPUT: one verified chunk of a shipped input; the task starts once all have arrived.
    private func receive(_ chunk: Header.Chunk, payload: [UInt8], in session: inout Session) throws {
        let key = [chunk.task, chunk.attempt]
        guard let welcome = session.welcome, let runner = session.runner, let shipment = session.shipments[key] else {
            log("worker: dropped an input chunk for no task it was given")
            return
        }
        do {
            try shipment.receive(chunk, payload: payload, chunks: welcome.chunks, codec: codec)
        } catch {
            session.shipments[key] = nil
            try send(session.socket, .error, Header.Failure(task: chunk.task, attempt: chunk.attempt, code: "input", message: "\(error)"))
            return
        }
        if shipment.isComplete {
            session.shipments[key] = nil
            start(shipment, runner, in: &session)
        }
    }

    /// Runs a task whose inputs have all arrived, keeping them when the task says so.
    private func start(_ shipment: ShippedInputs, _ runner: any TaskRunner, in session: inout Session) {
        if shipment.task.keep == true {
            for (input, view) in shipment.views { session.kept[input] = view }
        }
        schedule(shipment.task, runner, shipment, session.number)
    }

    private func send<H: Encodable>(_ socket: ZMQSocket, _ kind: MessageKind, _ header: H) throws {
        try socket.send(ProtocolMessage(kind, header).frames)
    }

    /// The job's models read here: from this host's files when they are the coordinator's
    /// (same size and header digest), else, for a remote model, by fetching byte ranges
    /// (`openRemote`); with how each is read (`local`, `fetch`). Otherwise nil and why, and the
    /// coordinator ships inputs.
    private func openModels(_ welcome: Header.Welcome) -> Opening.Models {
        if let job = options.attachment { return (CheckpointInputs(job.models), job.models.map(Self.readMode), nil) }
        if options.noSharedStorage { return (nil, [], "--no-shared-storage") }
        var checkpoints: [Checkpoint] = [], reads: [String] = []
        for model in welcome.models {
            let local = openLocal(model)
            if let checkpoint = local.checkpoint {
                checkpoints.append(checkpoint)
                reads.append(Self.readMode(checkpoint))
                continue
            }
            guard model.hub != nil || model.url != nil else { return (nil, [], local.reason) }
            guard let openRemote = options.openRemote else { return (nil, [], "\(local.reason), and this worker does not fetch remote models") }
            var remote = model
            remote.url = model.url.map(options.mapped)
            let checkpoint: Checkpoint
            do { checkpoint = try openRemote(remote) } catch { return (nil, [], "cannot fetch \(model.path) here: \(error)") }
            if checkpoint.remote == nil, let mismatch = differences(checkpoint, model) { return (nil, [], mismatch) }
            checkpoints.append(checkpoint)
            reads.append(Self.readMode(checkpoint))
        }
        return (CheckpointInputs(checkpoints), reads, nil)
    }

    /// How `checkpoint` is read, as READY `reads` says it: `fetch` for a remote one, else `local`.
    static func readMode(_ checkpoint: Checkpoint) -> String { checkpoint.remote == nil ? "local" : "fetch" }

    /// `model` from this host's files (its path, rewritten by `modelRoots`), when they are the
    /// coordinator's; else why not.
    private func openLocal(_ model: Header.Model) -> (checkpoint: Checkpoint?, reason: String) {
        let path = options.mapped(model.path)
        guard let checkpoint = try? Checkpoint(path: path) else { return (nil, "cannot open \(path)") }
        if let mismatch = differences(checkpoint, model) { return (nil, mismatch) }
        return (checkpoint, "")
    }

    /// How a local `checkpoint` differs from the coordinator's `model` (a file missing, or of
    /// another size or header digest); nil when it is the same.
    private func differences(_ checkpoint: Checkpoint, _ model: Header.Model) -> String? {
        for file in model.files {
            let name = file.name ?? file.path.split(separator: "/").last.map(String.init) ?? file.path
            guard let local = checkpoint.files.first(where: { $0.path.split(separator: "/").last.map(String.init) == name }),
                  local.fileSize == file.size, local.headerDigest == file.headerDigest else {
                return "\(FileSystem.join(checkpoint.directory, name)) differs from the coordinator's copy"
            }
        }
        return nil
    }

    /// Computes a task on the compute queue into its sink. A task that starts with no other
    /// scheduled (a tensor too large to share the byte credit is leased alone), or whose runner
    /// `computesAlone` (then one such task at a time), takes every thread; otherwise it takes
    /// its share, `threads / tasksAtOnce`.
    private func schedule(_ task: Header.Task, _ runner: any TaskRunner, _ inputs: any TaskInputs, _ session: Int) {
        let share = max(1, options.threads / options.tasksAtOnce), all = options.threads
        finished.lock()
        unfinished += 1
        finished.unlock()
        compute.addOperation { [self] in
            if runner.computesAlone { alone.lock() }
            defer { if runner.computesAlone { alone.unlock() } }
            finished.lock()
            let threads = unfinished == 1 || runner.computesAlone ? all : share
            finished.unlock()
            let outcome = Result {
                let sink = try makeSink(task.parts)
                try runner.run(Array(task.work.utf8), inputs: inputs, threads: threads, into: sink)
                return sink
            }
            finished.lock()
            completed.append(Completed(session: session, task: task.task, attempt: task.attempt, outcome: outcome))
            unfinished -= 1
            finished.unlock()
        }
    }

    /// Sends every finished task of this session: RESULT chunks of what its sink holds, then
    /// DONE, or ERROR.
    private func sendCompleted(_ socket: ZMQSocket, _ welcome: Header.Welcome, session: Int) throws {
        finished.lock()
        var ready = completed
        completed.removeAll()
        if let limit = options.crashAfterTasks, ready.count > limit - tasksSent {
            // The test hook stops at exactly `limit` tasks: the rest stay unsent.
            completed = Array(ready.dropFirst(max(0, limit - tasksSent)))
            ready = Array(ready.prefix(max(0, limit - tasksSent)))
        }
        finished.unlock()
        for item in ready where item.session == session {
            switch item.outcome {
            case .failure(let error):
                try send(socket, .error, Header.Failure(task: item.task, attempt: item.attempt, code: "compute", message: "\(error)"))
            case .success(let sink):
                var chunks = 0
                for (index, bytes) in sink.buffered {
                    chunks += try sendPart(socket, welcome, item, index: index, bytes: bytes, elementWidth: sink.parts[index].elementWidth)
                }
                try send(socket, .done, Header.Done(task: item.task, attempt: item.attempt, chunks: chunks))
                tasksSent += 1
            }
        }
    }

    private func sendPart(_ socket: ZMQSocket, _ welcome: Header.Welcome, _ item: Completed, index: Int,
                          bytes: UnsafeRawBufferPointer, elementWidth: Int) throws -> Int {
        let ranges = welcome.chunks.ranges(bytes.count)
        for range in ranges {
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[range])
            try codec.encode(chunk, elementWidth: max(elementWidth, 1), compress: welcome.compress) { encoded, payload in
                let header = try ProtocolMessage(.result, Header.Chunk(task: item.task, attempt: item.attempt, index: index, offset: range.lowerBound,
                                                                       size: range.count, encoding: encoded.encoding.rawValue, checksum: encoded.checksum))
                try socket.send(header.headFrames, payload: payload)
            }
        }
        return ranges.count
    }
}
