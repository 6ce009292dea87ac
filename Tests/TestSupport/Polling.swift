import Foundation
import Synchronization

/// Waiting for something another thread or process does.
public enum Poll {
    /// Whether `condition` became true within `seconds` (checked every 2 ms).
    public static func until(_ seconds: Double = 30, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { return false }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return true
    }
}

/// Values appended from several threads, for a test to read.
public final class Collected<Value: Sendable>: Sendable {
    private let list = Mutex<[Value]>([])
    public init() {}
    public func append(_ value: Value) { list.withLock { $0.append(value) } }
    public var values: [Value] { list.withLock { $0 } }
}
