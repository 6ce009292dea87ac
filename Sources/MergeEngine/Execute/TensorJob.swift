import JobModel
import CrucibleMath
import TensorIO

/// One input tensor of a job: where its bytes are, its resolved per-model parameters, and its
/// random stream (keyed by seed, model and tensor name).
public struct JobInput: Sendable {
    public let view: TensorView
    public let parameters: [String: ResolvedValue]
    public let random: Philox

    public init(view: TensorView, parameters: [String: ResolvedValue], random: Philox) {
        self.view = view
        self.parameters = parameters
        self.random = random
    }

    /// A numeric parameter (validation guarantees presence and type).
    public func number(_ name: String) -> Double { parameters[name]?.number ?? .nan }
    public func bool(_ name: String) -> Bool { parameters[name]?.bool ?? false }
}

/// A contiguous piece of one tensor, loaded as Float32: the unit a method's inner loop sees.
public struct Chunk {
    /// Position of this chunk in the job's chunk order.
    public let index: Int
    /// Element range within the flattened tensor.
    public let range: Range<Int>
    public let base: UnsafeBufferPointer<Float>?
    public let inputs: [UnsafeBufferPointer<Float>]
    /// Where the method writes its result for `range` (only in `apply`).
    public let output: UnsafeMutableBufferPointer<Float>
    /// Working space for the method: the `scratch` slots it asked for, `count` floats each.
    let scratchSpace: UnsafeMutableBufferPointer<Float>
    public var count: Int { range.count }

    /// Scratch slot `j` (`count` floats, contents undefined).
    public func scratch(_ j: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: scratchSpace[(j * count)..<((j + 1) * count)])
    }
}

/// Everything needed to compute one output tensor, and the chunked, parallel, deterministic
/// loops that methods use to do it.
///
/// Chunks have a fixed size (`chunkElements`, or whole rows) that does not depend on the
/// thread count, and `map` and `reduce` combine per-chunk results in chunk order, so reductions combine in
/// the same order and outputs are byte-identical for any `-j`.
public final class TensorJob: Sendable {
    /// Elements per chunk for element-wise passes.
    public static let chunkElements = 1 << 18

    public let name: String
    public let shape: [Int]
    public let base: JobInput?
    /// Non-base inputs, in config order.
    public let inputs: [JobInput]
    /// Resolved global parameters.
    public let parameters: [String: ResolvedValue]
    let threads: Int
    /// Where `apply` writes: the output tensor is the sink's part 0, in `outputDType`.
    let sink: TaskSink
    let outputDType: DType
    /// `--numerics`: under `.mergekit` a method follows mergekit's arithmetic where it
    /// differs (linear accumulates with fused multiply-adds, as torch's `addcmul_` does; the
    /// task-arithmetic family rounds every operation to `mergekitDType`).
    public let numerics: MergeNumerics
    /// The dtype mergekit computes in under `.mergekit`: the half-precision `dtype` the inputs
    /// were rounded to, else Float32.
    public let mergekitDType: DType

    public init(name: String, shape: [Int], base: JobInput?, inputs: [JobInput], parameters: [String: ResolvedValue],
                threads: Int, sink: TaskSink, outputDType: DType, numerics: MergeNumerics = .crucible, mergekitDType: DType = .f32) {
        self.name = name
        self.shape = shape
        self.base = base
        self.inputs = inputs
        self.parameters = parameters
        self.threads = max(1, threads)
        self.sink = sink
        self.outputDType = outputDType
        self.numerics = numerics
        self.mergekitDType = mergekitDType
    }

    public var count: Int { shape.reduce(1, *) }
    /// Length of the last dimension (the whole tensor for 0-D and 1-D tensors).
    public var rowLength: Int { shape.count >= 2 ? max(shape[shape.count - 1], 1) : max(count, 1) }
    public var rowCount: Int { count / rowLength }

    public func number(_ name: String) -> Double { parameters[name]?.number ?? .nan }
    public func bool(_ name: String) -> Bool { parameters[name]?.bool ?? false }

    /// The chunk ranges: fixed-size element ranges, or whole rows when `byRows`.
    public func chunkRanges(byRows: Bool) -> [Range<Int>] {
        let n = count
        guard n > 0 else { return [] }
        let step = byRows ? max(1, TensorJob.chunkElements / rowLength) * rowLength : TensorJob.chunkElements
        return stride(from: 0, to: n, by: step).map { $0..<min(n, $0 + step) }
    }

    /// Runs `body` on every chunk (in parallel) and returns the results in chunk order.
    public func map<T: Sendable>(byRows: Bool = false, scratch: Int = 0, _ body: @Sendable (Chunk) throws -> T) throws -> [T] {
        try reduce(byRows: byRows, scratch: scratch, into: [T](), body) { $0.append($1) }
    }

    /// Runs `body` on every chunk (in parallel) and folds each result into `initial` with
    /// `combine` in chunk order (so floating-point sums are the same for any thread count),
    /// as soon as it is next in that order: only results that finished ahead of a slower,
    /// earlier chunk wait in memory, not one per chunk.
    public func reduce<T: Sendable, Accumulator: Sendable>(byRows: Bool = false, scratch: Int = 0, into initial: Accumulator,
                                                 _ body: @Sendable (Chunk) throws -> T,
                                                 combine: @Sendable (inout Accumulator, T) -> Void) throws -> Accumulator {
        let layout = ChunkLayout(self, ranges: chunkRanges(byRows: byRows), scratch: scratch)
        return try ParallelChunks.reduce(layout.ranges.count, threads: threads, floats: layout.floats, into: initial, { index, block in
            try withChunk(index, in: block, layout, body)
        }, combine: combine)
    }

    /// Runs `body` on every chunk (in parallel); `body` fills `chunk.output`, which is then
    /// converted once to the output dtype straight into the sink.
    public func apply(byRows: Bool = false, scratch: Int = 0, _ body: @Sendable (Chunk) throws -> Void) throws {
        let layout = ChunkLayout(self, ranges: chunkRanges(byRows: byRows), scratch: scratch)
        let dtype = outputDType, width = outputDType.bitWidth / 8
        try ParallelChunks.forEach(layout.ranges.count, threads: threads, floats: layout.floats) { index, block in
            try withChunk(index, in: block, layout) { chunk in
                try body(chunk)
                try sink.fill(0, (chunk.range.lowerBound * width)..<(chunk.range.upperBound * width)) { destination in
                    Conversion.fromFloat32(UnsafeBufferPointer(chunk.output), to: dtype, into: destination)
                }
            }
        }
    }

    /// Runs `body` on a sample of every input: `runs` runs of `runLength` consecutive
    /// elements spread evenly over the tensor, gathered into one chunk (`range` is
    /// `0..<runs·runLength`, not the elements' positions). Touches only a few pages of each input.
    public func withSample<T>(runs: Int, runLength: Int, _ body: (Chunk) throws -> T) throws -> T {
        let count = runs * runLength
        let spacing = self.count / runs
        precondition(spacing >= runLength, "sample runs overlap")
        let sources = (base.map { [$0] } ?? []) + inputs
        let block = ScratchPool.shared.take((sources.count + 1) * count)
        defer { ScratchPool.shared.give(block) }
        // Runs spread over the whole tensor touch pages everywhere: inputs too large to stay
        // resident are dropped again at once, as a streamed pass drops each chunk.
        defer {
            if sources.reduce(0, { $0 + $1.view.bytes.count }) > ParallelChunks.residentInputBudget { sources.forEach { $0.view.release() } }
        }
        var loaded: [UnsafeBufferPointer<Float>] = []
        for (s, source) in sources.enumerated() {
            let slot = UnsafeMutableBufferPointer(rebasing: block[(s * count)..<((s + 1) * count)])
            for r in 0..<runs {
                let elements = (r * spacing)..<(r * spacing + runLength)
                try source.view.readFloat32(elements, into: UnsafeMutableBufferPointer(rebasing: slot[(r * runLength)..<((r + 1) * runLength)]))
            }
            loaded.append(UnsafeBufferPointer(slot))
        }
        let hasBase = base != nil
        let output = sources.count * count
        return try body(Chunk(index: 0, range: 0..<count, base: hasBase ? loaded[0] : nil,
                              inputs: Array(loaded.dropFirst(hasBase ? 1 : 0)),
                              output: UnsafeMutableBufferPointer(rebasing: block[output..<(output + count)]),
                              scratchSpace: UnsafeMutableBufferPointer(rebasing: block[output..<output])))
    }

    /// How chunks sit in a worker's pooled block: each source, the output, then the method's scratch.
    private struct ChunkLayout: Sendable {
        let ranges: [Range<Int>]
        let sources: [JobInput]
        let hasBase: Bool
        /// Inputs too large to stay resident: each chunk's pages are dropped once it is done.
        let streaming: Bool
        let capacity: Int
        let scratch: Int
        var floats: Int { (sources.count + 1 + scratch) * capacity }

        init(_ job: TensorJob, ranges: [Range<Int>], scratch: Int) {
            self.ranges = ranges
            sources = (job.base.map { [$0] } ?? []) + job.inputs
            hasBase = job.base != nil
            streaming = sources.reduce(0) { $0 + $1.view.bytes.count } > ParallelChunks.residentInputBudget
            capacity = ranges.first?.count ?? 0
            self.scratch = scratch
        }
    }

    /// Reads chunk `index`'s inputs into `block` and runs `body` on the chunk.
    private func withChunk<T>(_ index: Int, in block: UnsafeMutableBufferPointer<Float>, _ layout: ChunkLayout,
                              _ body: (Chunk) throws -> T) throws -> T {
        let range = layout.ranges[index], capacity = layout.capacity
        var loaded: [UnsafeBufferPointer<Float>] = []
        for (i, source) in layout.sources.enumerated() {
            let slot = UnsafeMutableBufferPointer(rebasing: block[(i * capacity)..<(i * capacity + range.count)])
            try source.view.readFloat32(range, into: slot)
            loaded.append(UnsafeBufferPointer(slot))
        }
        let output = layout.sources.count * capacity
        let scratchStart = (layout.sources.count + 1) * capacity
        let chunk = Chunk(index: index, range: range, base: layout.hasBase ? loaded[0] : nil,
                          inputs: Array(loaded.dropFirst(layout.hasBase ? 1 : 0)),
                          output: UnsafeMutableBufferPointer(rebasing: block[output..<(output + range.count)]),
                          scratchSpace: UnsafeMutableBufferPointer(rebasing: block[scratchStart..<(scratchStart + layout.scratch * range.count)]))
        defer { if layout.streaming { layout.sources.forEach { $0.view.release(range) } } }
        return try body(chunk)
    }
}
