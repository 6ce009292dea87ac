import ArgumentParser
import CrucibleMath
import Foundation
import TensorIO

/// Single-thread throughput of the counter-based generator, for scripts/bench.
struct BenchRandom: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-random",
        abstract: "Measure Philox4x32-10 uniform and normal draws per second on one core."
    )

    @Option(help: "Draws per repetition.") var elements = 1 << 24
    @Option(help: "Repetitions (the best is reported).") var repeats = 5

    func run() throws {
        let philox = Philox(seed: 1, stream: 2, name: "bench")
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: elements)
        defer { buffer.deallocate() }
        let n = elements
        let bulk = Stopwatch.best(of: repeats) { philox.uniform(first: 0, into: buffer) }
        let scalar = Stopwatch.best(of: repeats) { for i in 0..<n { buffer[i] = philox.uniform(element: i) } }
        let normal = Stopwatch.best(of: repeats) { philox.normal(first: 0, into: buffer) }
        let normals = Stopwatch.best(of: repeats) { philox.normals(first: 0, into: buffer) }
        let draws = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: n)
        defer { draws.deallocate() }
        let sixteen = Stopwatch.best(of: repeats) { philox.draws16(first: 0, into: draws) }
        print("generator                 draws/s (1 thread)")
        print("uniform (bulk)            " + ByteCount.formatDecimal(Double(n) / bulk / 1e6, places: 0) + " M")
        print("uniform (per element)     " + ByteCount.formatDecimal(Double(n) / scalar / 1e6, places: 0) + " M")
        print("16-bit draws (bulk)       " + ByteCount.formatDecimal(Double(n) / sixteen / 1e6, places: 0) + " M")
        print("normal (per element)      " + ByteCount.formatDecimal(Double(n) / normal / 1e6, places: 0) + " M")
        print("normal (bulk, sweep noise)" + ByteCount.formatDecimal(Double(n) / normals / 1e6, places: 0) + " M")
    }
}
