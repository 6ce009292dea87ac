import JobModel
import TensorIO
import WireCodec

/// Inputs the coordinator shipped to a worker without the model files: one buffer per task
/// input, filled chunk by chunk from INPUT messages whose sizes come from the TASK header.
final class ShippedInputs: TaskInputs, @unchecked Sendable {
    /// Largest single input accepted (64 GiB): a bound on what a header can make a worker allocate.
    static let largestInput: UInt64 = 1 << 36

    let task: Header.Task
    private let buffers: [UnsafeMutableRawBufferPointer]
    private let infos: [TensorInfo]
    private var missing: [Set<Int>]

    /// Buffers for `task`'s shipped inputs, or an error when the header does not describe them.
    init(_ task: Header.Task, chunks: ChunkLayout) throws {
        guard let shipped = task.shipped, shipped.count == task.inputs.count else {
            throw ProtocolError.malformed("task \(task.task): shipped inputs do not match its inputs")
        }
        var infos: [TensorInfo] = []
        for (input, description) in zip(task.inputs, shipped) {
            let elements = description.shape.reduce(Optional(UInt64(1))) { product, n in
                guard let product, n >= 0 else { return nil }
                let (value, overflow) = product.multipliedReportingOverflow(by: UInt64(n))
                return overflow ? nil : value
            }
            guard let dtype = DType(rawValue: description.dtype), let elements,
                  let bytes = dtype.byteCount(elements: elements), Int(bytes) == description.bytes, bytes <= ShippedInputs.largestInput else {
                throw ProtocolError.malformed("task \(task.task): input \(input.tensor) has an inconsistent dtype, shape or size")
            }
            infos.append(TensorInfo(name: input.tensor, dtype: dtype, shape: description.shape, dataOffsets: 0..<bytes))
        }
        self.task = task
        self.infos = infos
        buffers = shipped.map { .allocate(byteCount: max($0.bytes, 1), alignment: 64) }
        missing = shipped.map { Set(chunks.ranges($0.bytes).map(\.lowerBound)) }
    }

    deinit { buffers.forEach { $0.deallocate() } }

    var isComplete: Bool { missing.allSatisfy(\.isEmpty) }

    /// Decodes one INPUT chunk into place after checking it against the task's own sizes.
    func receive(_ chunk: Header.Chunk, payload: [UInt8], chunks: ChunkLayout, codec: ChunkCodec) throws {
        guard chunk.index >= 0 && chunk.index < infos.count, missing[chunk.index].contains(chunk.offset),
              let range = chunks.range(at: chunk.offset, of: infos[chunk.index].byteCount) else {
            throw ProtocolError.malformed("task \(task.task): unexpected input chunk \(chunk.index)@\(chunk.offset)")
        }
        let info = infos[chunk.index], expected = range.count
        // Straight into the shipment's buffer: on any error the worker discards the shipment.
        let destination = UnsafeMutableRawBufferPointer(rebasing: buffers[chunk.index][range])
        try payload.withUnsafeBytes { p in
            try codec.decode(p, encoding: chunk.encoding, expectedSize: expected, elementWidth: max(info.dtype.bitWidth / 8, 1),
                             checksum: chunk.checksum, into: destination)
        }
        missing[chunk.index].remove(chunk.offset)
    }

    func tensor(_ input: TaskInput) throws -> TensorView {
        guard let i = task.inputs.firstIndex(of: input) else {
            throw JobError("\(input.tensor) of model \(input.model) was not shipped with task \(task.task)")
        }
        return TensorView(info: infos[i], bytes: UnsafeRawBufferPointer(rebasing: buffers[i][0..<infos[i].byteCount]), owner: self, file: "(shipped by the coordinator)")
    }
}
