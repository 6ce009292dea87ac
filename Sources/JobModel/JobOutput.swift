import Synchronization
import TensorIO

/// Where a task part lands: a tensor of a checkpoint being written, or a small record kept
/// in memory (statistics that are combined when the job ends).
public enum OutputTarget: Sendable {
    case checkpoint(CheckpointWriter)
    case records(RecordStore)
}

/// Fixed-size byte records by name, filled by task parts (e.g. per-tensor statistics).
public final class RecordStore: Sendable {
    private let records: Mutex<[String: [UInt8]]>

    public init() { records = Mutex([:]) }

    /// The record `name`, once written.
    public func record(_ name: String) -> [UInt8]? { records.withLock { $0[name] } }

    func fill(_ name: String, size: Int, at offset: Int, count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        records.withLock { all in
            var bytes = all[name] ?? [UInt8](repeating: 0, count: size)
            bytes.withUnsafeMutableBytes { body(UnsafeMutableRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
            all[name] = bytes
        }
    }
}

/// The output of a job: task parts are written here at their offsets, in any order, from
/// any thread, through a `TaskSink` made in place (local workers' kernels, and the
/// coordinator's received chunks).
public final class JobOutput: Sendable {
    public let targets: [OutputTarget]
    /// The journal of finished tasks (`--resume`); nil when the job cannot be resumed.
    public let journalPath: String?
    /// Where the journal is once `finish()` has put the output in place: it is removed
    /// only then, so that a crash at any moment of the final phase leaves a resumable job.
    public let finishedJournalPath: String?

    public init(targets: [OutputTarget], journalPath: String?, finishedJournalPath: String? = nil) {
        self.targets = targets
        self.journalPath = journalPath
        self.finishedJournalPath = finishedJournalPath ?? journalPath
    }

    /// True when the part is written to disk, so a resumed job can reuse it.
    public func isPersistent(_ part: TaskPart) -> Bool {
        guard part.target >= 0 && part.target < targets.count, case .checkpoint = targets[part.target] else { return false }
        return true
    }

    /// The digest of a part as it is now in the output: the xxHash64 of
    /// the xxHash64s of its chunks (`combining`), so that the checksums remote
    /// workers' RESULT chunks carry give the same digest without reading the bytes again.
    /// A checkpoint part is read back one chunk at a time.
    public func digest(_ part: TaskPart, chunks: ChunkLayout) throws -> UInt64 {
        switch try target(part) {
        case .checkpoint(let writer):
            return JobOutput.combining(try writer.pieces(of: part.name, chunks.ranges(part.bytes)) { XXHash64.hash($0) })
        case .records(let store):
            guard let record = store.record(part.name) else { throw JobError("\(part.name): the record was not written") }
            return record.withUnsafeBytes { bytes in
                JobOutput.combining(chunks.ranges(bytes.count).map { XXHash64.hash(UnsafeRawBufferPointer(rebasing: bytes[$0])) })
            }
        }
    }

    /// A part's digest from the checksums of its chunks, in order.
    public static func combining(_ checksums: [UInt64]) -> UInt64 {
        checksums.map(\.littleEndian).withUnsafeBytes { XXHash64.hash($0) }
    }

    /// Records that a persistent part already holds its bytes (reused by a resumed job).
    public func markWritten(_ part: TaskPart) throws {
        guard case .checkpoint(let writer) = try target(part) else { return }
        try writer.markWritten(part.name)
    }

    /// Flushes written bytes to disk (before a job stops, so that it can be resumed).
    public func sync() {
        for case .checkpoint(let writer) in targets { writer.sync() }
    }

    /// The target `part` lands in.
    func target(_ part: TaskPart) throws -> OutputTarget {
        guard part.target >= 0 && part.target < targets.count else { throw JobError("\(part.name): no output target \(part.target)") }
        return targets[part.target]
    }
}
