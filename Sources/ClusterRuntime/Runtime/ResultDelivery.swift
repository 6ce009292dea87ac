import JobModel

/// How a worker's results reach the job's output, fixed when the worker joins: the
/// coordinator's side of `TaskSink`. An in-process worker's sink writes in place, so a task's
/// bytes are in the output when its DONE arrives; a remote worker sends them as checksummed
/// RESULT chunks that `ResultWriter` writes, so its DONE stands only once every chunk of the
/// task has been written, and the digests come from the checksums without reading the bytes.
enum ResultDelivery {
    case inPlace
    case chunks

    /// Why a DONE for `task` cannot stand (result chunks missing), or nil when it can.
    /// `received`: the checksums of the chunks written for the live attempt, by (part, offset).
    func incomplete(_ task: JobTask, received: [[Int]: UInt64], layout: ChunkLayout) -> String? {
        guard case .chunks = self else { return nil }
        let expected = task.parts.reduce(0) { $0 + layout.count($1.bytes) }
        guard received.count != expected else { return nil }
        return "was incomplete (DONE after \(received.count) of its \(expected) result chunks)"
    }

    /// The digest (`JobOutput.digest`) of part `index` of `task` as delivered.
    func digest(_ task: JobTask, part index: Int, received: [[Int]: UInt64], output: JobOutput, layout: ChunkLayout) throws -> UInt64 {
        let part = task.parts[index]
        switch self {
        case .inPlace: return try output.digest(part, chunks: layout)
        case .chunks: return JobOutput.combining(layout.ranges(part.bytes).map { received[[index, $0.lowerBound]]! })
        }
    }
}
