import TensorIO

/// Where one task's output bytes land, chosen once when the task starts: in place into the
/// job's output (`inPlace`: a worker in the coordinator's process, `LocalJobRunner`, or the
/// coordinator writing a remote worker's chunks), or into buffers of its own that a remote
/// worker encodes and sends (`buffering`). Each part's destination is resolved when the sink
/// is made; kernels then write through `fill` straight into it, from any thread, at disjoint
/// ranges, with no lookup per write.
public final class TaskSink: @unchecked Sendable {
    private enum Destination {
        case tensor(SafeTensorsWriter.Region)
        case record(RecordStore)
        case buffer(UnsafeMutableRawBufferPointer)
    }

    /// The task's parts, in order: `fill`'s `part` indexes them.
    public let parts: [TaskPart]
    private let destinations: [Destination]

    /// A sink that writes each part at its place in `output`.
    public init(inPlace parts: [TaskPart], of output: JobOutput) throws {
        self.parts = parts
        destinations = try parts.map { part in
            switch try output.target(part) {
            case .checkpoint(let writer): .tensor(try writer.region(part.name))
            case .records(let store): .record(store)
            }
        }
    }

    /// A sink that holds every part in a buffer of its own, for `buffered`.
    public init(buffering parts: [TaskPart]) {
        self.parts = parts
        destinations = parts.map { .buffer(.allocate(byteCount: max($0.bytes, 1), alignment: 64)) }
    }

    deinit {
        for case .buffer(let buffer) in destinations { buffer.deallocate() }
    }

    /// Lets `body` produce bytes `bytes` of part `part`, in its destination.
    public func fill(_ part: Int, _ bytes: Range<Int>, _ body: (UnsafeMutableRawBufferPointer) -> Void) throws {
        guard part >= 0 && part < parts.count else { throw JobError("the task has no part \(part)") }
        let target = parts[part]
        guard bytes.lowerBound >= 0, bytes.upperBound <= target.bytes else {
            throw JobError("\(target.name): \(bytes.count) bytes at \(bytes.lowerBound) do not fit its \(target.bytes) bytes")
        }
        switch destinations[part] {
        case .tensor(let region): try region.fill(at: bytes.lowerBound, count: bytes.count, body)
        case .record(let store): store.fill(target.name, size: target.bytes, at: bytes.lowerBound, count: bytes.count, body)
        case .buffer(let buffer): body(UnsafeMutableRawBufferPointer(rebasing: buffer[bytes]))
        }
    }

    /// Copies `bytes` to `offset` of part `part`.
    public func write(_ part: Int, at offset: Int, bytes: UnsafeRawBufferPointer) throws {
        try fill(part, offset..<(offset + bytes.count)) { destination in
            if let source = bytes.baseAddress { destination.baseAddress!.copyMemory(from: source, byteCount: bytes.count) }
        }
    }

    /// What a buffering sink holds, by part, once the task is computed (an in-place sink holds
    /// nothing: its bytes are already in the output).
    public var buffered: [(part: Int, bytes: UnsafeRawBufferPointer)] {
        destinations.enumerated().compactMap { index, destination in
            guard case .buffer(let buffer) = destination else { return nil }
            return (index, UnsafeRawBufferPointer(rebasing: buffer[0..<parts[index].bytes]))
        }
    }
}
