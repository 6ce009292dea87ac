import Foundation

/// Rate-limits log lines about each peer: at most `linesPerWindow` lines per peer per
/// `window` seconds, so that a peer sending garbage (or thousands of identities doing so)
/// cannot flood the coordinator's log. Bounded memory: the table is cleared when it holds
/// more than `maxPeers` identities.
struct PeerLogLimiter {
    enum Verdict { case log, lastOne, suppress }

    var linesPerWindow = 20
    var window: TimeInterval = 60
    var maxPeers = 4096
    private var seen: [[UInt8]: (start: Date, count: Int)] = [:]

    /// Whether a line about `peer` is logged now (`lastOne`: logged, and the next ones are not).
    mutating func admit(_ peer: [UInt8], now: Date = Date()) -> Verdict {
        if seen.count >= maxPeers && seen[peer] == nil { seen.removeAll(keepingCapacity: true) }
        var entry = seen[peer] ?? (now, 0)
        if now.timeIntervalSince(entry.start) > window { entry = (now, 0) }
        entry.count += 1
        seen[peer] = entry
        return entry.count < linesPerWindow ? .log : entry.count == linesPerWindow ? .lastOne : .suppress
    }
}
