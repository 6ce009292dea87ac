import Dispatch

/// Wall-clock timing for the micro-benchmarks.
enum Stopwatch {
    /// The shortest of `repeats` runs of `body`, in seconds.
    static func best(of repeats: Int, _ body: () -> Void) -> Double {
        (0..<max(1, repeats)).map { _ in
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }.min()!
    }
}
