import Foundation
import Synchronization

/// Blocking work (HTTP requests made from synchronous code) spread over a few threads.
enum Parallel {
    /// Runs `body(index, stopped)` for every index of `0..<count` on at most `width` threads
    /// of its own, and returns when all are done. After the first error no index is started
    /// any more, `stopped()` turns true for those running (so they can give up early), and
    /// that first error is thrown.
    static func forEach(_ count: Int, width: Int,
                        _ body: @escaping @Sendable (_ index: Int, _ stopped: @escaping @Sendable () -> Bool) throws(RemoteError) -> Void) throws(RemoteError) {
        let work = WorkQueue(count: count)
        let group = DispatchGroup()
        for _ in 0..<min(max(width, 1), count) {
            group.enter()
            Thread {
                defer { group.leave() }
                while let index = work.next() {
                    do throws(RemoteError) { try body(index, work.failed) } catch { work.fail(error) }
                }
            }.start()
        }
        group.wait()
        if let error = work.error { throw error }
    }

    /// `transform` of each element of `items`, in order, computed as `forEach` runs bodies.
    static func map<Item: Sendable, Result: Sendable>(_ items: [Item], width: Int,
                                                      _ transform: @escaping @Sendable (Item) throws(RemoteError) -> Result) throws(RemoteError) -> [Result] {
        let results = Results<Result>(count: items.count)
        try forEach(items.count, width: width) { (index, _) throws(RemoteError) in results.set(index, try transform(items[index])) }
        return results.values
    }
}

/// The indices of one `forEach` handed out to its threads, and the first error one of them
/// met (after which no index is handed out).
private final class WorkQueue: Sendable {
    private let state: Mutex<(next: Int, error: RemoteError?)>
    private let count: Int

    init(count: Int) {
        self.count = count
        state = Mutex((next: 0, error: nil))
    }

    func next() -> Int? {
        state.withLock { state in
            guard state.error == nil, state.next < count else { return nil }
            defer { state.next += 1 }
            return state.next
        }
    }

    @Sendable func failed() -> Bool { state.withLock { $0.error != nil } }

    func fail(_ error: RemoteError) { state.withLock { if $0.error == nil { $0.error = error } } }

    var error: RemoteError? { state.withLock { $0.error } }
}

/// The results of one `map`, filled in any order.
private final class Results<Value: Sendable>: Sendable {
    private let slots: Mutex<[Value?]>

    init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }

    func set(_ index: Int, _ value: Value) { slots.withLock { $0[index] = value } }

    /// All of them, once every slot is set.
    var values: [Value] { slots.withLock { $0.map { $0! } } }
}
