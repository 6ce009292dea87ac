import CrucibleMath
import Foundation
import JobModel
import TensorIO

/// Computes sweep tasks: reads one input tensor and writes it into every variant of the task,
/// perturbed (`WeightNoise`: `W' = W + σ · s · ε`) or copied byte for byte, plus the noise
/// statistics record. The tensor is cut into `WeightNoise`'s fixed chunks whatever the thread
/// count, and sums are combined in chunk order, so bytes and statistics are the same for any
/// `threads` and on any worker.
public struct SweepTaskRunner: TaskRunner, JobKind {
    public static let name = "sweep"
    /// Bytes per write when copying a tensor.
    static let copyChunkBytes = 1 << 24

    public init() {}

    public static func runner(setup: [UInt8]) throws -> any TaskRunner {
        let setup = try JSONDecoder().decode(SweepJob.Setup.self, from: Data(setup))
        guard setup.format == 2 else { throw JobError("sweep setup format \(setup.format) is not supported by this worker") }
        return SweepTaskRunner()
    }

    public func run(_ work: [UInt8], inputs: any TaskInputs, threads: Int, into sink: TaskSink) throws {
        let parts = sink.parts
        let work = try JSONDecoder().decode(SweepTaskWork.self, from: Data(work))
        let view = try inputs.tensor(TaskInput(model: work.model, tensor: work.tensor))
        // Its pages leave the resident set once the task is done (chunk by chunk when large).
        defer { view.release() }
        guard let dtype = DType(rawValue: work.outputDType) else { throw JobError("\(work.tensor): unknown output dtype \(work.outputDType)") }
        let variants = work.variants.count
        guard parts.count == variants + (work.perturb ? 1 : 0) else {
            throw JobError("\(work.tensor): \(parts.count) parts for \(variants) variants")
        }
        if work.perturb {
            try perturb(view, work: work, dtype: dtype, threads: threads, into: sink)
        } else {
            for (index, part) in parts.enumerated() {
                guard part.bytes == view.bytes.count else {
                    throw JobError("\(work.tensor): the copy is \(view.bytes.count) bytes, the part \(part.bytes)")
                }
                for start in stride(from: 0, to: part.bytes, by: SweepTaskRunner.copyChunkBytes) {
                    let range = start..<min(part.bytes, start + SweepTaskRunner.copyChunkBytes)
                    try sink.write(index, at: range.lowerBound, bytes: UnsafeRawBufferPointer(rebasing: view.bytes[range]))
                }
            }
        }
    }

    private func perturb(_ view: TensorView, work: SweepTaskWork, dtype: DType, threads: Int, into sink: TaskSink) throws {
        let parts = sink.parts
        guard view.dtype.isFloatingPoint, dtype.isWritableFromFloat32 else {
            throw JobError("\(work.tensor): cannot perturb \(view.dtype.rawValue) into \(dtype.rawValue)")
        }
        let count = view.elementCount
        let width = dtype.bitWidth / 8
        let variants = work.variants
        for part in parts.prefix(variants.count) where part.bytes != count * width {
            throw JobError("\(work.tensor): \(count) elements of \(dtype.rawValue) do not fill the part's \(part.bytes) bytes")
        }
        let chunks = WeightNoise.chunks(count)
        let capacity = chunks.first?.count ?? 0
        let streaming = view.bytes.count > ParallelChunks.residentInputBudget

        // The scale: fixed, or the tensor's RMS from a first pass (sums combined in chunk order).
        let scale: Double
        if let fixed = work.scale {
            scale = fixed
        } else {
            let sums = try ParallelChunks.map(chunks.count, threads: threads, floats: capacity) { index, block -> Double in
                let range = chunks[index]
                let w = UnsafeMutableBufferPointer(rebasing: block[0..<range.count])
                try view.readFloat32(range, into: w)
                if streaming { view.release(range) }
                return WeightNoise.squares(w)
            }
            scale = WeightNoise.rms(chunkSquares: sums, count: count)
        }

        // Variants grouped by seed: ε is drawn once per chunk and seed, then used for every σ.
        var seeds: [UInt64] = []
        for v in variants where !seeds.contains(v.seed) { seeds.append(v.seed) }
        let groups = seeds.map { seed in (noise: WeightNoise.generator(seed: seed, tensor: work.tensor),
                                          members: variants.indices.filter { variants[$0].seed == seed }) }

        // Per worker: the weights, ε, the perturbed values, and the values as written.
        let perChunk = try ParallelChunks.map(chunks.count, threads: threads, floats: 4 * capacity) { index, block -> [NoiseStatistics] in
            let range = chunks[index]
            let n = range.count
            let w = UnsafeMutableBufferPointer(rebasing: block[0..<n])
            let eps = UnsafeMutableBufferPointer(rebasing: block[capacity..<(capacity + n)])
            let out = UnsafeMutableBufferPointer(rebasing: block[(2 * capacity)..<(2 * capacity + n)])
            let back = UnsafeMutableBufferPointer(rebasing: block[(3 * capacity)..<(3 * capacity + n)])
            try view.readFloat32(range, into: w)
            let weightSquares = WeightNoise.squares(w)
            var stats = [NoiseStatistics](repeating: NoiseStatistics(), count: variants.count)
            for group in groups {
                group.noise.normals(first: range.lowerBound, into: eps)
                var epsSquares = 0.0
                for e in eps { epsSquares += Double(e) * Double(e) }
                for v in group.members {
                    let amplitude = variants[v].sigma * scale
                    WeightNoise.apply(w, eps, amplitude: amplitude, into: out)
                    // Converted straight into the variant's part; the values as written are
                    // read back for the statistics (rounding to the output dtype included).
                    try sink.fill(v, (range.lowerBound * width)..<(range.upperBound * width)) { destination in
                        Conversion.fromFloat32(UnsafeBufferPointer(out), to: dtype, into: destination)
                        if dtype != .f32 { Conversion.toFloat32(UnsafeRawBufferPointer(destination), dtype: dtype, into: back) }
                    }
                    let written = dtype == .f32 ? out : back
                    var noiseSquares = 0.0
                    var unchanged: UInt64 = 0
                    for i in 0..<n {
                        let d = Double(written[i]) - Double(w[i])
                        noiseSquares += d * d
                        if d == 0 && eps[i] != 0 && amplitude != 0 { unchanged += 1 }
                    }
                    stats[v] = NoiseStatistics(noiseSquares: noiseSquares, weightSquares: weightSquares,
                                               intendedSquares: amplitude * amplitude * epsSquares, elements: UInt64(n), unchanged: unchanged)
                }
            }
            if streaming { view.release(range) }
            return stats
        }

        var totals = [NoiseStatistics](repeating: NoiseStatistics(), count: variants.count)
        for chunk in perChunk {
            for v in 0..<variants.count { totals[v] += chunk[v] }
        }
        let recordBytes = variants.count * NoiseStatistics.size
        guard parts[variants.count].bytes == recordBytes else {
            throw JobError("\(work.tensor): the statistics record is \(parts[variants.count].bytes) bytes, expected \(recordBytes)")
        }
        try sink.fill(variants.count, 0..<recordBytes) { destination in
            for (v, stat) in totals.enumerated() { stat.store(into: destination, at: v * NoiseStatistics.size) }
        }
    }

}
