import Foundation
import JobModel
import WireCodec

/// Decodes, verifies and writes remote result chunks on threads of its own, so that the
/// coordinator's thread only receives, checks chunks against its plan and keeps the books.
/// The threads are dedicated (not Dispatch's pool, which in-process workers keep busy with
/// long passes), and at most one chunk per thread waits to start (`submit` blocks beyond
/// that), so memory stays bounded. What each chunk came to is collected by `finished()` on
/// the coordinator's thread. A chunk that fails decoding or its checksum writes nothing.
///
/// The coordinator does not lease a task again while chunks of its previous attempt are in
/// hand, and journals a task only once none of its chunks is.
final class ResultWriter: @unchecked Sendable {
    /// A received chunk whose task, part and offset the coordinator has checked, with the
    /// sink its task writes into.
    struct Chunk: Sendable {
        let peer: Coordinator.Peer
        let header: Header.Chunk
        let part: TaskPart
        let expectedSize: Int
        let sink: TaskSink
    }

    /// What became of a chunk.
    enum Result: Sendable {
        case written
        /// The payload was wrong (size, encoding, checksum): nothing was written.
        case rejected(WireError)
        /// Writing into the output failed (the job cannot go on).
        case failed(String)
    }

    /// A chunk's fate (its payload is released once decoded).
    struct Outcome: Sendable {
        let chunk: Chunk
        let payloadBytes: Int
        let result: Result
    }

    private let threads: Int
    /// Guards everything below.
    private let condition = NSCondition()
    private var queue: [(chunk: Chunk, payload: [UInt8])] = []
    private var outcomes: [Outcome] = []
    private var stopping = false
    /// Threads started (on the first chunk: a job without remote workers starts none) and not ended.
    private var running = 0

    init(threads: Int) {
        self.threads = max(1, threads)
    }

    /// Queues a chunk; waits while every thread is busy and one chunk per thread waits.
    func submit(_ chunk: Chunk, payload: [UInt8]) {
        condition.lock()
        precondition(!stopping, "a chunk submitted after stop()")
        if running == 0 {
            running = threads
            for index in 0..<threads {
                let thread = Thread { [self] in work() }
                thread.name = "crucible.coordinator.results.\(index)"
                thread.start()
            }
        }
        while queue.count >= threads { condition.wait() }
        queue.append((chunk, payload))
        condition.broadcast()
        condition.unlock()
    }

    /// The outcomes since the last call.
    func finished() -> [Outcome] {
        condition.lock()
        defer { outcomes.removeAll(); condition.unlock() }
        return outcomes
    }

    /// Waits until every submitted chunk is written or rejected, then ends the threads.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func work() {
        let codec = ChunkCodec()
        condition.lock()
        while true {
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty { break }
            let (chunk, payload) = queue.removeFirst()
            condition.broadcast()
            condition.unlock()
            let result = write(chunk, payload, with: codec)
            condition.lock()
            outcomes.append(Outcome(chunk: chunk, payloadBytes: payload.count, result: result))
            condition.broadcast()
        }
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    private func write(_ chunk: Chunk, _ payload: [UInt8], with codec: ChunkCodec) -> Result {
        do {
            try payload.withUnsafeBytes { payload in
                try codec.decode(payload, encoding: chunk.header.encoding, expectedSize: chunk.expectedSize,
                                 elementWidth: max(chunk.part.elementWidth, 1), checksum: chunk.header.checksum) {
                    try chunk.sink.write(chunk.header.index, at: chunk.header.offset, bytes: $0)
                }
            }
            return .written
        } catch let wire as WireError {
            return .rejected(wire)
        } catch {
            return .failed("\(error)")
        }
    }
}
