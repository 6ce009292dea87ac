import ModelHub
import Synchronization

/// Progress reports made on another thread, for a test to read.
final class ProgressLog: Sendable {
    private let list = Mutex<[DownloadProgress]>([])
    func append(_ value: DownloadProgress) { list.withLock { $0.append(value) } }
    var values: [DownloadProgress] { list.withLock { $0 } }
}
