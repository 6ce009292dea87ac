#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import TensorIO

/// One file's contents fetched into the cache as `blobs/<etag>`: written to
/// `blobs/<etag>.incomplete`, resumed with a `Range` request after a cut connection (in this
/// run or a later one), checked against the announced size and, for LFS files, the SHA-256
/// that is their etag, and only then renamed into place. The caller holds the blob's
/// `DownloadLock`, so that the `.incomplete` file has one writer.
struct BlobDownload {
    let client: HubClient
    let file: String
    let info: HubClient.FileInfo
    let url: String
    let blob: String

    /// Downloads; `progress` gets the bytes of this file on disk so far.
    func run(progress: @escaping (Int) -> Void) throws(HubError) {
        let partial = try PartialFile(path: blob + ".incomplete", hashing: info.isLFS, limit: info.size)
        defer { partial.close() }
        if partial.length > 0 { progress(partial.length) }
        if partial.length < info.size {
            let sink = HubHTTP.BodySink(
                start: { status, headers in
                    let range = "bytes \(partial.length)-"
                    if status == 206, headers.first(name: "Content-Range")?.hasPrefix(range) == true { return }
                    guard status == 200 else {
                        throw HubError.invalidResponse(client.reference, url: url, reason: "HTTP \(status) when asking for \(range)")
                    }
                    try partial.restart()  // the whole file after all
                },
                write: { buffer in
                    try partial.append(buffer)
                    progress(partial.length)
                })
            _ = try client.perform(file: file) {
                let range = partial.length > 0 ? [("Range", "bytes=\(partial.length)-")] : []
                return try client.http.send(.GET, url, headers: range, sink: sink)
            }
        }
        if let problem = partial.mismatch(size: info.size, sha256: info.isLFS ? info.etag : nil) {
            partial.close()
            unlink(partial.path)
            throw .corrupt(client.reference, file: file, reason: problem)
        }
        try partial.finish(as: blob)
    }
}

/// The `.incomplete` file of a download: appended to, hashed as it grows (including what an
/// earlier run left), never allowed past the announced size.
private final class PartialFile {
    let path: String
    private var fd: Int32
    private let limit: Int
    private let hashing: Bool
    private var hash = SHA256()
    private(set) var length = 0

    init(path: String, hashing: Bool, limit: Int) throws(HubError) {
        self.path = path
        self.hashing = hashing
        self.limit = limit
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PartialFile.failure(path, "cannot open") }
        let existing = Int(lseek(fd, 0, SEEK_END))
        guard existing <= limit else { try restart(); return }
        // Only an LFS file's hash needs the bytes already there; the offset is at the end.
        guard hashing else { length = existing; return }
        lseek(fd, 0, SEEK_SET)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while length < existing {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, min($0.count, existing - length)) }
            guard n > 0 else { throw PartialFile.failure(path, "cannot read") }
            buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            length += n
        }
    }

    /// Starts over from an empty file (the server sent the whole file, not the rest).
    func restart() throws(HubError) {
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw PartialFile.failure(path, "cannot truncate") }
        hash = SHA256()
        length = 0
    }

    func append(_ buffer: ByteBuffer) throws(HubError) {
        guard length + buffer.readableBytes <= limit else {
            throw HubError.cache("\(path): the server sent more than the \(limit) bytes the Hub announced")
        }
        try buffer.withUnsafeReadableBytes { (bytes) throws(HubError) in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw PartialFile.failure(path, "cannot write") }
                done += n
            }
            if hashing { hash.update(bytes) }
        }
        length += buffer.readableBytes
    }

    /// What is wrong with the finished file, if anything.
    func mismatch(size: Int, sha256: String?) -> String? {
        if length != size { return "\(length) bytes instead of \(size)" }
        if let sha256 {
            let actual = hash.finalizeHex()
            if actual != sha256.lowercased() { return "SHA-256 \(actual) instead of \(sha256)" }
        }
        return nil
    }

    /// Makes the file durable and renames it to `blob`.
    func finish(as blob: String) throws(HubError) {
        guard fsync(fd) == 0 else { throw PartialFile.failure(path, "fsync failed") }
        close()
        guard rename(path, blob) == 0 else { throw PartialFile.failure(blob, "cannot rename \(path) to it") }
        FileSystem.syncDirectory(FileSystem.parent(of: blob))
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private static func failure(_ path: String, _ what: String) -> HubError {
        .cache("\(path): \(what): \(String(cString: strerror(errno)))")
    }
}
