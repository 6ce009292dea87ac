import Dispatch
import Synchronization
import TensorIO

/// How task runners use their threads (merges, sweeps, analyses): a tensor cut into fixed
/// chunks (never dependent on the thread count), the chunks taken in turn by up to `threads`
/// workers, and results combined in chunk order, so that the bytes are the same for any
/// thread count. The first error stops the work and is thrown.
public enum ParallelChunks {
    /// Input bytes of one tensor above which each chunk's input pages are dropped from the
    /// resident set once used (below it, they stay until the tensor is done, so that
    /// multi-pass methods re-read from memory). Keeps peak memory independent of model size.
    public static let residentInputBudget = 256 << 20

    /// Runs `worker` on up to `threads` threads (at most `count`, at least one). Each worker
    /// takes chunk indices from `next()` until it returns nil: every index of `0..<count` is
    /// handed out once, and none after a worker has thrown. Returns the workers' results
    /// (per-worker state such as partial sums), in no particular order.
    public static func workers<Result: Sendable>(_ count: Int, threads: Int,
                                                 _ worker: @Sendable (_ next: () -> Int?) throws -> Result) throws -> [Result] {
        let counter = Atomic<Int>(0)
        let failure = Mutex<(any Error)?>(nil)
        let results = Mutex<[Result]>([])
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, count))) { _ in
            let next = { () -> Int? in
                guard failure.withLock({ $0 == nil }) else { return nil }
                let index = counter.wrappingAdd(1, ordering: .relaxed).oldValue
                return index < count ? index : nil
            }
            do {
                let result = try worker(next)
                results.withLock { $0.append(result) }
            } catch {
                failure.withLock { if $0 == nil { $0 = error } }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return results.withLock { $0 }
    }

    /// Runs `body(chunk index, block)` for every chunk index in `0..<count`; `block` holds
    /// `floats` floats (contents undefined), pooled, and belongs to the calling worker.
    public static func forEach(_ count: Int, threads: Int, floats: Int,
                               _ body: @Sendable (Int, UnsafeMutableBufferPointer<Float>) throws -> Void) throws {
        _ = try fold(count, threads: threads, floats: floats, into: ()) { index, block, _ in try body(index, block) }
    }

    /// `forEach` where each worker folds its chunks into its own copy of `initial`. Returns
    /// the workers' states in no particular order, so they suit results that combine in any
    /// order (integer counts, maxima); chunk-order results go through `reduce`.
    public static func fold<State: Sendable>(_ count: Int, threads: Int, floats: Int, into initial: State,
                                             _ body: @Sendable (Int, UnsafeMutableBufferPointer<Float>, inout State) throws -> Void) throws -> [State] {
        try workers(count, threads: threads) { next in
            var state = initial
            let block = ScratchPool.shared.take(floats)
            defer { ScratchPool.shared.give(block) }
            while let index = next() { try body(index, block, &state) }
            return state
        }
    }

    /// `forEach` that keeps each chunk's result, in chunk order.
    public static func map<T: Sendable>(_ count: Int, threads: Int, floats: Int,
                                        _ body: @Sendable (Int, UnsafeMutableBufferPointer<Float>) throws -> T) throws -> [T] {
        try reduce(count, threads: threads, floats: floats, into: [T](), body) { $0.append($1) }
    }

    /// `forEach` that folds each chunk's result into `initial` with `combine` in chunk order
    /// (so floating-point sums are the same for any thread count), as soon as it is next in
    /// that order: only results that finished ahead of a slower, earlier chunk wait in memory.
    public static func reduce<T: Sendable, Accumulator: Sendable>(
        _ count: Int, threads: Int, floats: Int, into initial: Accumulator,
        _ body: @Sendable (Int, UnsafeMutableBufferPointer<Float>) throws -> T,
        combine: @Sendable (inout Accumulator, T) -> Void
    ) throws -> Accumulator {
        let state = Mutex<(accumulator: Accumulator, next: Int, waiting: [Int: T])>((initial, 0, [:]))
        try forEach(count, threads: threads, floats: floats) { index, block in
            let value = try body(index, block)
            state.withLock { state in
                state.waiting[index] = value
                while let ready = state.waiting.removeValue(forKey: state.next) {
                    combine(&state.accumulator, ready)
                    state.next += 1
                }
            }
        }
        return state.withLock { $0.accumulator }
    }
}
