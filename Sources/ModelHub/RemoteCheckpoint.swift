import Foundation
import TensorIO

extension RemoteModel {
    /// The model as a `Checkpoint` whose weight files are remote: planning sees every tensor
    /// from the headers, and a tensor's bytes are read with range requests when it is asked
    /// for (the tensors of a file asked for together are read together, neighbours by one
    /// request; retried and checked as `RangeFetcher` does). The token
    /// goes to the Hub's origin only (`HubSettings.token(for:)`).
    public func checkpoint(settings: HubSettings) throws(SafeTensorsError) -> Checkpoint {
        let source: RemoteSource = switch location {
        case .hub(let reference): .hub(repository: reference.repository, commit: commit ?? reference.revision)
        case .folder(let url): .folder(url: url)
        }
        return try RemoteCheckpoint.open(path: location.description, folder: folder, files: files, source: source, settings: settings)
    }
}

/// Remote checkpoints: the one a coordinator plans from (`RemoteModel.checkpoint`), and the
/// one a worker opens from what WELCOME says of it, to read its tasks' tensors itself.
public enum RemoteCheckpoint {
    /// A weight file as the plan knows it: what a worker checks its own reading against.
    public struct PlannedFile: Sendable {
        public var name: String
        public var size: Int
        /// The length prefix and JSON header, in bytes.
        public var headerBytes: Int
        public var headerDigest: UInt64
        public init(name: String, size: Int, headerBytes: Int, headerDigest: UInt64) {
            (self.name, self.size, self.headerBytes, self.headerDigest) = (name, size, headerBytes, headerDigest)
        }
    }

    /// The model at `source` (named `path`, as the plan names it) opened here, for reading
    /// tensors by ranges: each file's header is read (exactly `headerBytes`, one request) and
    /// must have the plan's size and header digest, so that every range read afterwards is at
    /// the place the plan says. A Hub repository is found at `settings.endpoint`; the token goes
    /// to that origin only. `HF_HUB_OFFLINE` makes it an error before any request.
    public static func fetching(_ source: RemoteSource, path: String, files: [PlannedFile], settings: HubSettings) throws(RemoteError) -> Checkpoint {
        guard !settings.offline else { throw .offline(path) }
        // Every file of a model is on one origin: it gets the token, or none does.
        let urls = files.map { url(of: $0.name, in: source, settings: settings) }
        let fetcher = RangeFetcher(token: urls.first.flatMap(settings.token(for:)), options: RangeFetcher.Options(settings: settings))
        defer { fetcher.shutdown() }
        let opened = try Parallel.map(Array(zip(files, urls)), width: fetcher.options.concurrency) { (planned) throws(RemoteError) in
            let (file, url) = planned
            let read = try RemoteHeader.read(url, name: file.name, size: file.size, headerBytes: file.headerBytes, sha256: nil, fetcher: fetcher)
            guard read.headerDigest == file.headerDigest else {
                throw .notPlanned(url: url, reason: "its header digest is \(read.headerDigest), the plan's \(file.headerDigest)")
            }
            return read
        }
        do {
            return try open(path: path, folder: nil, files: opened, source: source, settings: settings)
        } catch {
            throw .header(error)
        }
    }

    /// A copy of the model on this host's disk: for a Hub model, the snapshot of its commit in
    /// the Hub cache when it holds every weight file (the caller checks their sizes and header
    /// digests, as for any local copy); nil otherwise, and for a folder URL.
    public static func cachedCopy(_ source: RemoteSource, settings: HubSettings) -> Checkpoint? {
        guard case .hub(let repository, let commit) = source else { return nil }
        let folder = RepoCache(cacheDirectory: settings.cacheDirectory, repository: repository).snapshot(commit)
        return FileSystem.isDirectory(folder) ? try? Checkpoint(path: folder) : nil
    }

    /// Where `settings` finds file `name` of `source`.
    static func url(of name: String, in source: RemoteSource, settings: HubSettings) -> String {
        switch source {
        case .hub(let repository, let commit):
            HubClient.url(of: name, repository: repository, commit: commit, endpoint: settings.endpoint)
        case .folder(let url):
            url + "/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name)
        }
    }

    static func open(path: String, folder: String?, files: [RemoteFile], source: RemoteSource,
                     settings: HubSettings) throws(SafeTensorsError) -> Checkpoint {
        let reader = RemoteBytes(fetcher: RangeFetcher(token: files.first.flatMap { settings.token(for: $0.url) },
                                                       options: RangeFetcher.Options(settings: settings)))
        let opened = files.map { file in
            (name: file.name, file: SafeTensorsFile(remote: file.url, header: file.header, size: file.size, headerDigest: file.headerDigest,
                                                    source: reader.file(file.url, size: file.size)))
        }
        return try Checkpoint(path: path, folder: folder, files: opened, remote: source)
    }
}

/// The connections a remote checkpoint's files read through; closed when the last file goes.
final class RemoteBytes: Sendable {
    let fetcher: RangeFetcher

    init(fetcher: RangeFetcher) { self.fetcher = fetcher }
    deinit { fetcher.shutdown() }

    func file(_ url: String, size: Int) -> File { File(reader: self, url: url, size: size) }

    /// One file's bytes.
    struct File: ByteRangeSource {
        let reader: RemoteBytes
        let url: String
        let size: Int

        func read(_ ranges: [Range<Int>], into destinations: [UnsafeMutableRawBufferPointer]) throws(SafeTensorsError) {
            let targets = UncheckedBuffers(pointers: destinations)
            do {
                try reader.fetcher.fetch(url, fileSize: size, ranges: ranges) { range, offset, bytes in
                    UnsafeMutableRawBufferPointer(rebasing: targets.pointers[range][offset..<(offset + bytes.count)]).copyMemory(from: bytes)
                }
            } catch {
                throw SafeTensorsError(file: url, .ioFailure("\(error)"))
            }
        }
    }

    /// The destinations of one read, written by the fetcher's threads at disjoint offsets.
    private struct UncheckedBuffers: @unchecked Sendable { let pointers: [UnsafeMutableRawBufferPointer] }
}
