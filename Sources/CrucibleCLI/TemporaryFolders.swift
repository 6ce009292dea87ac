#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TensorIO

/// Folders this process made for its own use (a folder URL's small files), removed when it
/// exits, however `exit` is reached.
enum TemporaryFolders {
    private static let folders = Mutex<[String]>([])
    private static let registered = Mutex(false)

    /// Removes `folder` and what it holds when the process exits.
    static func removeAtExit(_ folder: String) {
        folders.withLock { $0.append(folder) }
        let first = registered.withLock { done in
            defer { done = true }
            return !done
        }
        if first { atexit { TemporaryFolders.removeAll() } }
    }

    private static func removeAll() {
        for folder in folders.withLock({ $0 }) { FileSystem.remove(folder) }
    }
}
