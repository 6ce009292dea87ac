#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TensorIO

/// A model read over HTTP rather than from disk, known from its small files and the headers
/// of its weights: enough to plan and validate a job without downloading a weight. Workers
/// then read the tensors they need with `RangeFetcher` (`RemoteFile.byteRange(of:)`).
///
/// For a Hub model (`org/name[@revision]`): the revision is resolved to a commit (the Hub
/// API, as `ModelHub.snapshot` does), `config.json`, the tokenizer files and the index are
/// downloaded into the Hub cache (the snapshot of that commit, which a later full download
/// completes), each weight file's size and SHA-256 come from a `HEAD`, and its header from
/// range requests. For a folder URL: the index (else `model.safetensors`), `config.json`
/// and the tokenizer files are fetched by name (there is no listing: a 404 means the folder
/// lacks that file) into a new temporary folder, and each weight file's size comes from the
/// Content-Range of its first header read. The Hub token goes to the Hub's origin only
/// (`HubSettings.token(for:)`).
public struct RemoteModel: Sendable {
    public let location: RemoteLocation
    /// The commit a Hub revision stands for; nil for a folder URL.
    public let commit: String?
    /// The local folder holding the model's `config.json`, tokenizer files and index (those
    /// it has), without its weights: a snapshot in the Hub cache, or, for a folder URL, a
    /// folder under the temporary directory (`TMPDIR`) that the caller may delete (removed
    /// here when opening fails).
    public let folder: String
    /// The weight files, in the order `Checkpoint` opens them (the index's shards sorted by
    /// name, else `model.safetensors`, else every `.safetensors` file of a Hub revision).
    public let files: [RemoteFile]

    /// Resolves `location` and reads its headers (at least one request per weight file,
    /// several files at once as `RangeFetcher.Options.concurrency` allows). `HF_HUB_OFFLINE`
    /// makes it an error at once: this needs the network.
    public static func open(_ location: RemoteLocation, settings: HubSettings) throws(RemoteError) -> RemoteModel {
        guard !settings.offline else { throw .offline(location.description) }
        switch location {
        case .hub(let reference): return try openHub(reference, settings: settings)
        case .folder(let url): return try openFolder(url, settings: settings)
        }
    }

    private static func openHub(_ reference: HubReference, settings: HubSettings) throws(RemoteError) -> RemoteModel {
        guard let endpoint = URL(string: settings.endpoint), ["http", "https"].contains(endpoint.scheme ?? ""), endpoint.host != nil else {
            throw .hub(.badEndpoint(settings.endpoint))
        }
        let http = HubHTTP(token: settings.token, stallTimeout: settings.downloadTimeout)
        defer { http.shutdown() }
        let client = HubClient(reference: reference, settings: settings, http: http)
        let cache = RepoCache(cacheDirectory: settings.cacheDirectory, repository: reference.repository)
        let download = SnapshotDownload(client: client, cache: cache, progress: nil)
        let commit: String
        let weights: [String]
        do {
            let (resolved, files) = try download.select()
            commit = resolved
            try download.fetch(files.filter { !$0.hasSuffix(".safetensors") }, commit: commit, progress: nil)
            weights = files.filter { $0.hasSuffix(".safetensors") }
        } catch {
            throw .hub(error)
        }
        let fetcher = RangeFetcher(token: settings.token, options: RangeFetcher.Options(settings: settings))
        defer { fetcher.shutdown() }
        let files = try Parallel.map(weights, width: fetcher.options.concurrency) { (name) throws(RemoteError) in
            let info: HubClient.FileInfo
            do throws(HubError) { info = try client.info(name, commit: commit) } catch { throw .hub(error) }
            return try RemoteHeader.read(client.url(of: name, commit: commit), name: name, size: info.size,
                                         sha256: info.isLFS ? info.etag : nil, fetcher: fetcher)
        }
        return RemoteModel(location: .hub(reference), commit: commit, folder: cache.snapshot(commit), files: files)
    }

    private static func openFolder(_ url: String, settings: HubSettings) throws(RemoteError) -> RemoteModel {
        let fetcher = RangeFetcher(token: settings.token(for: url), options: RangeFetcher.Options(settings: settings))
        defer { fetcher.shutdown() }
        let folder = try temporaryFolder(for: url)
        do throws(RemoteError) {
            return try openFolder(url, into: folder, fetcher: fetcher, settings: settings)
        } catch {
            FileSystem.remove(folder)
            throw error
        }
    }

    /// The folder URL's model, its small files saved into `folder`.
    private static func openFolder(_ url: String, into folder: String, fetcher: RangeFetcher,
                                   settings: HubSettings) throws(RemoteError) -> RemoteModel {
        var weights = [Checkpoint.singleFileName]
        if let index = try fetcher.smallFile(url + "/" + Checkpoint.indexFileName, limit: settings.listingLimit) {
            let path = try save(index, as: Checkpoint.indexFileName, in: folder)
            do {
                weights = try MergeFiles.shards(ofIndex: path)
            } catch {
                throw .invalidResponse(url: url + "/" + Checkpoint.indexFileName, reason: error.description)
            }
        }
        for name in ["config.json"] + Checkpoint.tokenizerFileNames {
            if let bytes = try fetcher.smallFile(url + "/" + name, limit: settings.listingLimit) { _ = try save(bytes, as: name, in: folder) }
        }
        let single = weights == [Checkpoint.singleFileName]
        let files = try Parallel.map(weights, width: fetcher.options.concurrency) { (name) throws(RemoteError) in
            let fileURL = RemoteCheckpoint.url(of: name, in: .folder(url: url), settings: settings)
            do throws(RemoteError) {
                return try RemoteHeader.read(fileURL, name: name, size: nil, sha256: nil, fetcher: fetcher)
            } catch .http(_, 404) where single {
                throw .noWeights(url: url)
            }
        }
        return RemoteModel(location: .folder(url), commit: nil, folder: folder, files: files)
    }

    /// A new folder under `TMPDIR` for a folder URL's small files.
    private static func temporaryFolder(for url: String) throws(RemoteError) -> String {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((directory + "/crucible-remote-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw .local("\(directory): cannot create a folder for the files of \(url): \(String(cString: strerror(errno)))")
        }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    private static func save(_ bytes: [UInt8], as name: String, in folder: String) throws(RemoteError) -> String {
        let path = FileSystem.join(folder, name)
        do { try FileSystem.writeFile(path, bytes) } catch { throw .local(error.description) }
        return path
    }
}
