import Foundation
import Synchronization
import TensorIO

/// A one-line progress bar on standard error: count, bytes, throughput and ETA. It draws only
/// when standard error is a terminal (and not `--quiet`), at most ten times a second.
final class ProgressBar: Sendable {
    private struct State {
        var lastDraw = 0.0
        var drawn = false
    }

    private let enabled: Bool
    private let unit: String
    private let start = Date()
    private let state = Mutex(State())

    init(enabled: Bool, unit: String) {
        self.enabled = enabled && isatty(STDERR_FILENO) != 0
        self.unit = unit
    }

    /// Seconds since the start when the bar should be drawn now (at most ten times a second,
    /// and always when done), else nil.
    private func drawTime(done: Int, total: Int) -> Double? {
        guard enabled else { return nil }
        let elapsed = Date().timeIntervalSince(start)
        let draw = state.withLock { s -> Bool in
            guard elapsed - s.lastDraw >= 0.1 || done == total else { return false }
            s.lastDraw = elapsed
            s.drawn = true
            return true
        }
        return draw ? elapsed : nil
    }

    /// `bytesFetched`: input bytes fetched from remote models' servers so far, shown as a
    /// fetch rate when there are any.
    func update(done: Int, total: Int, bytesDone: Int, bytesTotal: Int, workers: Int? = nil, bytesFetched: Int = 0) {
        guard let elapsed = drawTime(done: done, total: total) else { return }
        let rate = elapsed > 0 ? Double(bytesDone) / elapsed : 0
        let fetch = bytesFetched > 0 && elapsed > 0 ? "  fetch \(ByteCount.format(Int(Double(bytesFetched) / elapsed)))/s" : ""
        draw(fraction: bytesTotal > 0 ? Double(bytesDone) / Double(bytesTotal) : Double(done) / Double(max(total, 1)),
             "\(done)/\(total) \(unit)  \(ByteCount.format(bytesDone))/\(ByteCount.format(bytesTotal))  \(ByteCount.format(Int(rate)))/s\(fetch)",
             eta: rate > 0 ? Double(bytesTotal - bytesDone) / rate : 0, suffix: workers.map { "  \($0) worker\($0 == 1 ? "" : "s")" } ?? "")
    }

    /// The bar for a count without bytes (tokens): count, rate per second and ETA.
    func updateCount(done: Int, total: Int) {
        guard let elapsed = drawTime(done: done, total: total) else { return }
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        draw(fraction: Double(done) / Double(max(total, 1)), "\(done)/\(total) \(unit)  \(Int(rate.rounded())) \(unit)/s",
             eta: rate > 0 ? Double(total - done) / rate : 0)
    }

    /// Redraws the bar line: `[####....] status  ETA Ns suffix`.
    private func draw(fraction: Double, _ status: String, eta: Double, suffix: String = "") {
        let width = 28
        let filled = max(0, min(width, Int(fraction * Double(width))))
        let line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            + status + "  ETA \(Int(eta.rounded()))s" + suffix
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    /// Prints a log line to standard error, above the bar when one is drawn.
    func log(_ line: String) {
        let clear = enabled && state.withLock({ $0.drawn }) ? "\r\u{1B}[K" : ""
        FileHandle.standardError.write(Data((clear + line + "\n").utf8))
    }

    func finish() {
        guard enabled, state.withLock({ $0.drawn }) else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
