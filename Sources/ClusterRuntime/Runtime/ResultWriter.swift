import Dispatch
import Foundation
import JobModel
import Synchronization

/// Decodes, verifies and writes remote result chunks on a few threads, so that the
/// coordinator's thread only receives, checks chunks against its plan and keeps the books.
/// At most `threads` chunks are in hand at once (`submit` waits for a free slot), so memory
/// stays bounded; what each chunk came to is collected by `finished()` on the coordinator's
/// thread. A chunk that fails decoding or its checksum writes nothing.
///
/// Chunks of one task may be written after its lease ended (a worker dropped while its
/// chunks were in hand): the coordinator journals a task only once none of its chunks is in
/// hand, and workers compute identical bytes for every attempt.
final class ResultWriter: Sendable {
    /// A received chunk whose task, part and offset the coordinator has checked.
    struct Chunk: Sendable {
        let peer: Coordinator.Peer
        let header: Header.Chunk
        let part: TaskPart
        let expectedSize: Int
        let payload: [UInt8]
    }

    /// What became of a chunk.
    enum Result: Sendable {
        case written
        /// The payload was wrong (size, encoding, checksum): nothing was written.
        case rejected(WireError)
        /// Writing into the output failed (the job cannot go on).
        case failed(String)
    }

    struct Outcome: Sendable {
        let chunk: Chunk
        let result: Result
    }

    private let output: JobOutput
    private let queue = DispatchQueue(label: "crucible.coordinator.results", attributes: .concurrent)
    private let slots: DispatchSemaphore
    private let group = DispatchGroup()
    private let codecs: Mutex<[ChunkCodecBox]>
    private let outcomes = Mutex<[Outcome]>([])

    init(output: JobOutput, threads: Int) {
        self.output = output
        slots = DispatchSemaphore(value: max(1, threads))
        codecs = Mutex((0..<max(1, threads)).map { _ in ChunkCodecBox() })
    }

    /// Queues a chunk; waits while every thread is busy.
    func submit(_ chunk: Chunk) {
        slots.wait()
        queue.async(group: group) { [self] in
            defer { slots.signal() }
            let box = codecs.withLock { $0.removeLast() }
            defer { codecs.withLock { $0.append(box) } }
            var result = Result.written
            do {
                try chunk.payload.withUnsafeBytes { payload in
                    try box.codec.decode(payload, encoding: chunk.header.encoding, expectedSize: chunk.expectedSize,
                                         elementWidth: max(chunk.part.elementWidth, 1), checksum: chunk.header.checksum) {
                        try output.write(chunk.part, at: chunk.header.offset, bytes: $0)
                    }
                }
            } catch let wire as WireError {
                result = .rejected(wire)
            } catch {
                result = .failed("\(error)")
            }
            outcomes.withLock { $0.append(Outcome(chunk: chunk, result: result)) }
        }
    }

    /// The outcomes since the last call.
    func finished() -> [Outcome] {
        outcomes.withLock { all in
            defer { all.removeAll() }
            return all
        }
    }

    /// Waits until every submitted chunk is written or rejected.
    func waitUntilIdle() { group.wait() }
}

/// A codec handed from thread to thread by `ResultWriter`: one thread uses it at a time.
private final class ChunkCodecBox: @unchecked Sendable {
    let codec = ChunkCodec()
}
