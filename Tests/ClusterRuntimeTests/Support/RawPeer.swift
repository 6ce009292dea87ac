import ClusterRuntime
import CZMQ
import Foundation
import JobModel
import TensorIO
import WireCodec

/// A peer written against docs/protocol.md with a raw DEALER socket, for tests of what the
/// coordinator does with misbehaving workers: it says HELLO and READY, heartbeats, and
/// answers each TASK with `answer` (which may say nothing at all).
final class RawPeer {
    let socket: ZMQSocket
    private(set) var tasks: [Header.Task] = []

    init(_ endpoint: String, host: String = "rogue", receiveHighWaterMark: Int32? = nil) throws {
        socket = try ZMQSocket(try ZMQContext(), .dealer)
        if let receiveHighWaterMark { try socket.set(ZMQ_RCVHWM, receiveHighWaterMark) }
        try socket.connect(endpoint)
        try say(.hello, Header.Hello(threads: 1, host: host, encodings: []))
    }

    func say<H: Encodable>(_ kind: MessageKind, _ header: H, payload: [UInt8]? = nil) throws {
        try socket.send(ProtocolMessage(kind, header, payload: payload).frames)
    }

    /// Serves for `seconds` (or until `until` holds): READY after WELCOME, a heartbeat when
    /// idle, `answer` for every TASK.
    func serve(for seconds: Double, until: () -> Bool = { false }, answer: (RawPeer, Header.Task) throws -> Void) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && !until() {
            guard try socket.poll(milliseconds: 50) else {
                try? say(.heartbeat, Header.Empty())
                continue
            }
            guard let message = try? ProtocolMessage(frames: socket.receiveMultipart()) else { continue }
            switch message.kind {
            case .welcome: try say(.ready, Header.Ready(sharedStorage: true))
            case .task:
                let task = try message.decode(Header.Task.self)
                tasks.append(task)
                try answer(self, task)
            default: break
            }
        }
    }

    /// A well-formed result of the right size whose every byte is `value`, with a checksum
    /// that matches it: wrong values that no check on the wire can catch.
    func sendWrongResult(_ task: Header.Task, chunkBytes: Int, value: UInt8 = 7) throws {
        var chunks = 0
        for (index, part) in task.parts.enumerated() {
            for range in ChunkLayout(size: chunkBytes).ranges(part.bytes) {
                let bytes = [UInt8](repeating: value, count: range.count)
                try say(.result, Header.Chunk(task: task.task, attempt: task.attempt, index: index, offset: range.lowerBound, size: bytes.count,
                                              encoding: WireEncoding.raw.rawValue, checksum: bytes.withUnsafeBytes { XXHash64.hash($0) }),
                        payload: bytes)
                chunks += 1
            }
        }
        try say(.done, Header.Done(task: task.task, attempt: task.attempt, chunks: chunks))
    }
}
