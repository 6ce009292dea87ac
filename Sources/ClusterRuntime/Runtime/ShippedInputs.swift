import JobModel
import TensorIO
import WireCodec

/// Inputs the coordinator shipped to a worker without the model files: one buffer per task
/// input, filled chunk by chunk from INPUT messages whose sizes come from the TASK header, or
/// an input the worker kept from an earlier model-level task (`held`).
final class ShippedInputs: TaskInputs, @unchecked Sendable {
    /// Largest single input accepted (64 GiB): a bound on what a header can make a worker allocate.
    static let largestInput: UInt64 = 1 << 36

    let task: Header.Task
    private let buffers: [UnsafeMutableRawBufferPointer]
    private let infos: [TensorInfo]
    /// Per input, the view of it the worker kept (held inputs only).
    private let held: [TensorView?]
    private var missing: [Set<Int>]

    /// Buffers for `task`'s shipped inputs, or an error when the header does not describe them
    /// or names a held input that is not among `kept`.
    init(_ task: Header.Task, chunks: ChunkLayout, kept: [TaskInput: TensorView] = [:]) throws {
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
        let held = zip(task.inputs, shipped).map { input, description in description.held == true ? kept[input] : nil }
        for (i, description) in shipped.enumerated() where description.held == true {
            guard let view = held[i], view.dtype == infos[i].dtype, view.shape == infos[i].shape else {
                throw ProtocolError.malformed("task \(task.task): input \(task.inputs[i].tensor) is said to be held, but this worker did not keep it")
            }
        }
        self.task = task
        self.infos = infos
        self.held = held
        buffers = zip(shipped, held).map { .allocate(byteCount: $1 == nil ? max($0.bytes, 1) : 1, alignment: 64) }
        missing = zip(shipped, held).map { $1 == nil ? Set(chunks.ranges($0.bytes).map(\.lowerBound)) : [] }
    }

    deinit { buffers.forEach { $0.deallocate() } }

    var isComplete: Bool { missing.allSatisfy(\.isEmpty) }

    /// Every input of the task, for the worker to keep (a complete shipment of a `keep` task).
    var views: [(TaskInput, TensorView)] {
        task.inputs.compactMap { input in (try? tensor(input)).map { (input, $0) } }
    }

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
        if let view = held[i] { return view }
        return TensorView(info: infos[i], bytes: UnsafeRawBufferPointer(rebasing: buffers[i][0..<infos[i].byteCount]), owner: self, file: "(shipped by the coordinator)")
    }
}
