import Foundation

/// Runs `body` on a thread of its own and waits at most `seconds` for it: the result, or nil
/// when it is still running (a call blocked on a FIFO, say). `onTimeout` can then unblock it
/// (open the FIFO's other end), so that a test that fails on a hang still ends.
public func finishes<T: Sendable>(within seconds: Double, onTimeout: () -> Void = {},
                                  _ body: @escaping @Sendable () throws -> T) -> Result<T, any Error>? {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Thread.detachNewThread {
        box.set(Result { try body() })
        done.signal()
    }
    if done.wait(timeout: .now() + seconds) == .timedOut {
        onTimeout()
        _ = done.wait(timeout: .now() + 10)
        return nil
    }
    return box.get()
}

/// Opens the FIFO at `path` for writing without blocking and closes it: a reader blocked in
/// `open` gets through and reads end-of-file.
public func unblockFIFO(_ path: String) {
    let fd = open(path, O_WRONLY | O_NONBLOCK)
    if fd >= 0 { close(fd) }
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?
    func set(_ result: Result<T, any Error>) { lock.lock(); value = result; lock.unlock() }
    func get() -> Result<T, any Error>? { lock.lock(); defer { lock.unlock() }; return value }
}
