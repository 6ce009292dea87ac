#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TensorIO

/// One repository's folder in the Hugging Face cache, laid out as huggingface_hub lays it
/// out: `models--org--name/` holding `refs/<revision>` (a file with the commit hash),
/// `blobs/<etag>` (file contents, shared by snapshots) and `snapshots/<commit>/<file>`
/// (relative symlinks to the blobs), with download locks in `<cache>/.locks/models--org--name/`.
/// Every change is a rename or a new file, so that another process never sees half of one.
struct RepoCache {
    /// `<cache>/models--org--name`.
    let root: String
    /// `<cache>/.locks/models--org--name`.
    private let locks: String

    init(cacheDirectory: String, repository: String) {
        let folder = "models--" + repository.replacingOccurrences(of: "/", with: "--")
        root = FileSystem.join(cacheDirectory, folder)
        locks = FileSystem.join(cacheDirectory, ".locks/" + folder)
    }

    /// The commit a revision stands for: the revision itself when it is a commit hash, else
    /// what `refs/<revision>` says, nil when the cache does not know it.
    func commit(for reference: HubReference) -> String? {
        if reference.isCommit { return reference.revision }
        guard let bytes = try? FileSystem.readFile(refPath(reference.revision)) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return HubReference.isCommitHash(text) ? text : nil
    }

    /// Records that `revision` is now `commit` (nothing to record for a commit hash, nor
    /// when the ref says so already), replacing `refs/<revision>` whole.
    func save(_ reference: HubReference, commit: String) throws(HubError) {
        guard !reference.isCommit, self.commit(for: reference) != commit else { return }
        let path = refPath(reference.revision)
        let temporary = path + "." + UUID().uuidString + ".tmp"
        try write { () throws(SafeTensorsError) in
            try FileSystem.makeDirectories(FileSystem.parent(of: path))
            do throws(SafeTensorsError) {
                try FileSystem.writeFile(temporary, Array(commit.utf8))
                try FileSystem.rename(temporary, path)
            } catch {
                unlink(temporary)
                throw error
            }
        }
    }

    func snapshot(_ commit: String) -> String { FileSystem.join(root, "snapshots/" + commit) }

    func blob(_ etag: String) -> String { FileSystem.join(root, "blobs/" + etag) }

    /// The lock file of `blobs/<etag>` (see `DownloadLock`).
    func lock(_ etag: String) -> String { FileSystem.join(locks, etag + ".lock") }

    /// Makes `snapshots/<commit>/<file>` a relative symlink to `blobs/<etag>`, replacing
    /// whatever is there in one rename (another process may be linking it too).
    func link(_ file: String, commit: String, etag: String) throws(HubError) {
        let folder = snapshot(commit)
        let path = FileSystem.join(folder, file)
        let temporary = FileSystem.join(folder, "." + file + "." + UUID().uuidString + ".tmp")
        try write { () throws(SafeTensorsError) in try FileSystem.makeDirectories(folder) }
        guard symlink("../../blobs/" + etag, temporary) == 0 else {
            throw .cache("\(temporary): cannot create symlink: \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .cache("\(path): cannot rename \(temporary) to it: \(reason)")
        }
    }

    /// Creates the `blobs/` folder.
    func prepareBlobs() throws(HubError) {
        try write { () throws(SafeTensorsError) in try FileSystem.makeDirectories(FileSystem.join(root, "blobs")) }
    }

    private func refPath(_ revision: String) -> String { FileSystem.join(root, "refs/" + revision) }

    private func write(_ body: () throws(SafeTensorsError) -> Void) throws(HubError) {
        do { try body() } catch { throw .cache(error.description) }
    }
}
