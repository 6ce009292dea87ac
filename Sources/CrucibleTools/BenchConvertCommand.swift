import ArgumentParser
import Foundation
import TensorIO

/// Single-thread throughput of the dtype conversions (GB/s of output), for scripts/bench.
struct BenchConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-convert",
        abstract: "Measure BF16/F16/F64 ↔ F32 conversion throughput on one core (GB/s of output)."
    )

    @Option(help: "Elements per buffer.") var elements = 1 << 24
    @Option(help: "Repetitions (the best is reported).") var repeats = 5

    func run() throws {
        let n = elements
        let source = (0..<n).map { Float(sin(Double($0) * 0.001)) * 0.02 }
        print("conversion         output GB/s (best of \(repeats), \(n) elements, 1 thread)")
        for dtype in [DType.bf16, .f16, .f64] {
            let width = dtype.bitWidth / 8
            let packed = UnsafeMutableRawBufferPointer.allocate(byteCount: n * width, alignment: 64)
            let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
            defer { packed.deallocate(); floats.deallocate() }
            let to = Stopwatch.best(of: repeats) { source.withUnsafeBufferPointer { Conversion.fromFloat32($0, to: dtype, into: packed) } }
            let from = Stopwatch.best(of: repeats) { Conversion.toFloat32(UnsafeRawBufferPointer(packed), dtype: dtype, into: floats) }
            print(pad("F32 -> \(dtype.rawValue)") + fmt(Double(n * width) / to / 1e9))
            print(pad("\(dtype.rawValue) -> F32") + fmt(Double(n * 4) / from / 1e9))
            if dtype == .bf16 {
                // Sanity: the round trip of representable values is exact.
                precondition(zip(source.prefix(1000), floats.prefix(1000)).allSatisfy { Conversion.bf16ToFloat32(Conversion.float32ToBF16($0)) == $1 })
            }
        }
    }


    private func pad(_ s: String) -> String { s + String(repeating: " ", count: max(1, 19 - s.count)) }
    private func fmt(_ x: Double) -> String { ByteCount.formatDecimal(x, places: 2) }
}
