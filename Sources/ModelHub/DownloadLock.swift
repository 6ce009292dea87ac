#if canImport(Glibc)
import Glibc
#endif
import TensorIO

/// The lock huggingface_hub takes on a blob while it downloads it:
/// `<cache>/.locks/models--org--name/<etag>.lock`, held with `flock(2)` (what its `FileLock`
/// does on Linux), so that two Crucible processes, or Crucible and huggingface_hub, never
/// write one blob's `.incomplete` file at once. The kernel releases the lock when its holder
/// exits, however it ends; the file stays behind, as huggingface_hub leaves it, and means
/// nothing by itself.
enum DownloadLock {
    /// Seconds of waiting before `waiting` is called.
    static let notice = 1.0

    /// Runs `body` holding the lock at `path`. While another process holds it, waits as long
    /// as that takes (as huggingface_hub does), checking every 50 ms, and calls `waiting` once
    /// after `notice` seconds.
    static func holding(_ path: String, waiting: () -> Void, _ body: () throws(HubError) -> Void) throws(HubError) {
        do { try FileSystem.makeDirectories(FileSystem.parent(of: path)) } catch { throw .cache(error.description) }
        // Read-write, as huggingface_hub opens it: on NFS, flock is emulated with POSIX locks,
        // and an exclusive one needs a file open for writing. Read-only only where writing is
        // refused (a lock file of another user, a read-only cache), which a local flock allows.
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o664)
        if fd < 0 && (errno == EACCES || errno == EROFS) { fd = open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw .cache("\(path): cannot open the download lock: \(String(cString: strerror(errno)))") }
        defer { close(fd) }  // releases the lock
        // As huggingface_hub does: group-writable whatever the umask, for caches shared by
        // several users (fails harmlessly on a lock file another user owns).
        _ = fchmod(fd, 0o664)
        let start = ContinuousClock.now
        var told = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw .cache("\(path): cannot lock: \(String(cString: strerror(errno))) "
                             + "(the cache needs a file system with flock; HF_HUB_CACHE can move it)")
            }
            if !told && ContinuousClock.now - start >= .seconds(notice) {
                told = true
                waiting()
            }
            usleep(50_000)
        }
        try body()
    }
}
