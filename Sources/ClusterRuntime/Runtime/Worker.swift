import CZMQ
import Dispatch
import Foundation
import JobModel
import MergeEngine
import TensorIO

/// How a worker connects and computes.
public struct WorkerOptions: Sendable {
    public var endpoint: String
    public var threads: Int
    /// Rewrites of model paths (coordinator's prefix → this host's prefix).
    public var modelRoots: [(from: String, to: String)] = []
    /// For tests: exit abruptly (no goodbye) once this many tasks have been received.
    public var crashAfterTasks: Int?
    /// True for a worker in the coordinator's own process.
    public var isLocal = false

    public init(endpoint: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.endpoint = endpoint
        self.threads = threads
    }

    func mapped(_ path: String) -> String {
        for root in modelRoots where path.hasPrefix(root.from) { return root.to + path.dropFirst(root.from.count) }
        return path
    }
}

/// A worker (docs/protocol.md §5): connects a DEALER to the coordinator, says HELLO, and
/// computes the tensors it is leased on all its cores, sending each result in checksummed,
/// compressed chunks followed by DONE. The socket thread keeps heartbeating while a task
/// computes on the compute queue. Returns when the coordinator says SHUTDOWN.
public final class Worker: @unchecked Sendable {
    let options: WorkerOptions
    let context: ZMQContext
    let log: @Sendable (String) -> Void

    /// Finished computations waiting to be sent by the socket thread.
    private let finished = NSLock()
    private var completed: [(task: Int, attempt: Int, outcome: Result<OutputBuffer, Error>)] = []
    private let compute = DispatchQueue(label: "crucible.worker.compute")

    public init(context: ZMQContext, options: WorkerOptions, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.context = context
        self.options = options
        self.log = log
    }

    public func run() throws {
        let socket = try ZMQSocket(context, .dealer)
        var generator = SystemRandomNumberGenerator()
        try socket.set(ZMQ_ROUTING_ID, bytes: (0..<16).map { _ in UInt8.random(in: 1...255, using: &generator) })
        try socket.setHeartbeat(interval: 1000, timeout: 10_000)
        try socket.set(ZMQ_RECONNECT_IVL, Int32(100))
        try socket.set(ZMQ_RECONNECT_IVL_MAX, Int32(5000))
        try socket.connect(options.endpoint)
        try socket.send(ProtocolMessage(.hello, Header.Hello(threads: options.threads, host: ProcessInfo.processInfo.hostName, local: options.isLocal)).frames)

        var welcome: Header.Welcome?
        var executor: TensorExecutor?
        var inputs = CheckpointInputs([])
        var lastHeartbeat = Date()
        var tasksReceived = 0
        while true {
            if try socket.poll(milliseconds: 20) {
                let message: ProtocolMessage
                do { message = try ProtocolMessage(frames: socket.receiveMultipart()) } catch {
                    log("worker: dropped a message from the coordinator: \(error)")
                    continue
                }
                switch message.kind {
                case .welcome:
                    let w = try message.decode(Header.Welcome.self)
                    guard let method = MethodRegistry.method(named: w.method), let dtype = DType(rawValue: w.outputDType) else {
                        try send(socket, .error, Header.Failure(task: nil, attempt: nil, code: "unsupported", message: "method \(w.method) or dtype \(w.outputDType)"))
                        continue
                    }
                    do {
                        let checkpoints = try w.models.map { try Checkpoint(path: options.mapped($0)) }
                        executor = TensorExecutor(method: method, outputDType: dtype); inputs = CheckpointInputs(checkpoints)
                        welcome = w
                    } catch {
                        try send(socket, .error, Header.Failure(task: nil, attempt: nil, code: "input", message: "\(error)"))
                    }
                case .task:
                    let task = try message.decode(Header.Task.self)
                    tasksReceived += 1
                    if let limit = options.crashAfterTasks, tasksReceived > limit { exit(137) }
                    guard let executor, let welcome else {
                        try send(socket, .error, Header.Failure(task: task.task, attempt: task.attempt, code: "input", message: "no usable WELCOME"))
                        continue
                    }
                    schedule(task, executor: executor, inputs: inputs, seed: welcome.seed)
                case .heartbeat:
                    break
                case .shutdown:
                    return
                default:
                    log("worker: ignored an unexpected \(message.kind) message")
                }
            }
            if let welcome { try sendCompleted(socket, welcome) }
            if Date().timeIntervalSince(lastHeartbeat) * 1000 >= Double(welcome?.heartbeatMs ?? 1000) {
                try send(socket, .heartbeat, Header.Empty())
                lastHeartbeat = Date()
            }
        }
    }

    private func send<H: Encodable>(_ socket: ZMQSocket, _ kind: MessageKind, _ header: H, payload: [UInt8]? = nil) throws {
        try socket.send(ProtocolMessage(kind, header, payload: payload).frames)
    }

    /// Computes a task on the compute queue into one buffer of output bytes.
    private func schedule(_ task: Header.Task, executor: TensorExecutor, inputs: CheckpointInputs, seed: UInt64) {
        let threads = options.threads
        compute.async { [self] in
            let tensor = task.tensor
            let width = executor.outputDType.bitWidth / 8
            // The buffer goes to the socket thread as it is, which frees it once sent.
            let output = OutputBuffer(bytes: .allocate(byteCount: tensor.outputBytes, alignment: 16))
            let outcome: Result<OutputBuffer, Error>
            do {
                try executor.compute(tensor, inputs: inputs, seed: seed, threads: threads) { range, fill in
                    fill(UnsafeMutableRawBufferPointer(rebasing: output.bytes[(range.lowerBound * width)..<(range.upperBound * width)]))
                }
                outcome = .success(output)
            } catch {
                output.bytes.deallocate()
                outcome = .failure(error)
            }
            finished.lock()
            completed.append((task.task, task.attempt, outcome))
            finished.unlock()
        }
    }

    /// Sends every finished task: RESULT chunks then DONE, or ERROR.
    private func sendCompleted(_ socket: ZMQSocket, _ welcome: Header.Welcome) throws {
        finished.lock()
        let ready = completed
        completed.removeAll()
        finished.unlock()
        for item in ready {
            switch item.outcome {
            case .failure(let error):
                try send(socket, .error, Header.Failure(task: item.task, attempt: item.attempt, code: "compute", message: "\(error)"))
            case .success(let output):
                defer { output.bytes.deallocate() }
                let bytes = UnsafeRawBufferPointer(output.bytes)
                let width = DType(rawValue: welcome.outputDType).map { max($0.bitWidth / 8, 1) } ?? 1
                var chunks = 0
                for offset in stride(from: 0, to: bytes.count, by: welcome.chunkBytes) {
                    let end = min(bytes.count, offset + welcome.chunkBytes)
                    let encoded = ChunkCodec.encode(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), elementWidth: width, compress: welcome.compress)
                    try send(socket, .result, Header.Result(task: item.task, attempt: item.attempt, offset: offset, size: end - offset,
                                                            encoding: encoded.encoding.rawValue, checksum: encoded.checksum),
                             payload: encoded.payload)
                    chunks += 1
                }
                try send(socket, .done, Header.Done(task: item.task, attempt: item.attempt, chunks: chunks))
            }
        }
    }
}

/// A task's output buffer, written by the compute threads at disjoint ranges.
private struct OutputBuffer: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
}
