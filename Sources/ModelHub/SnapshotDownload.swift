import TensorIO

/// Fills a revision's snapshot folder with the files a merge needs (`MergeFiles`): lists the
/// revision, records its commit under `refs/`, then fetches each missing file (a `HEAD` for
/// its blob name and size, a `BlobDownload` under the blob's `DownloadLock` unless the blob
/// is there already, from another revision or another process) and links it into
/// `snapshots/<commit>/`.
struct SnapshotDownload {
    let client: HubClient
    let cache: RepoCache
    let progress: (@Sendable (DownloadProgress) -> Void)?

    /// Downloads what is missing and returns the snapshot folder.
    func run() throws(HubError) -> String {
        let (commit, files) = try select()
        try fetch(files, commit: commit, progress: progress)
        return cache.snapshot(commit)
    }

    /// Lists the revision, records its commit, fetches its index when it has one, and
    /// returns the commit and the files a merge needs (`MergeFiles`, weights last).
    func select() throws(HubError) -> (commit: String, files: [String]) {
        let listing = try client.listing()
        try cache.save(client.reference, commit: listing.commit)
        let folder = cache.snapshot(listing.commit)
        var shards: [String]?
        if listing.files.contains(Checkpoint.indexFileName) {
            let index = FileSystem.join(folder, Checkpoint.indexFileName)
            // A few KB, fetched quietly but for a wait: the progress display covers the files that follow.
            try fetch([Checkpoint.indexFileName], commit: listing.commit) { [progress] report in
                if report.waiting != nil { progress?(report) }
            }
            do {
                shards = try MergeFiles.shards(ofIndex: index)
            } catch {
                throw .invalidResponse(client.reference, url: client.url(of: Checkpoint.indexFileName, commit: listing.commit),
                                       reason: error.description)
            }
        }
        let files = MergeFiles.select(from: listing.files, shards: shards)
        let weights = files.count { $0.hasSuffix(".safetensors") }
        guard weights > 0 else { throw .noWeights(client.reference) }
        // Before any request for them: each weight file costs a HEAD and a download.
        guard weights <= client.settings.weightFileLimit else {
            throw .tooManyWeightFiles(client.reference, count: weights, limit: client.settings.weightFileLimit)
        }
        return (listing.commit, files)
    }

    /// Fetches those of `files` that the snapshot lacks, in order; `progress` starts with one
    /// report of nothing done, then only moves forward (a wait for another process is reported
    /// where it happens).
    func fetch(_ files: [String], commit: String, progress: (@Sendable (DownloadProgress) -> Void)?) throws(HubError) {
        let folder = cache.snapshot(commit)
        let missing = files.filter { !FileSystem.exists(FileSystem.join(folder, $0)) }
        guard !missing.isEmpty else { return }
        var infos: [HubClient.FileInfo] = []
        for file in missing {
            let info = try client.info(file, commit: commit)
            // The index is read into memory to find the shards: bounded like the listing.
            if file == Checkpoint.indexFileName && info.size > client.settings.listingLimit {
                throw .tooLarge(client.reference, url: client.url(of: file, commit: commit), limit: client.settings.listingLimit)
            }
            infos.append(info)
        }
        try cache.prepareBlobs()
        let total = infos.reduce(0) { $0 + $1.size }
        progress?(DownloadProgress(reference: client.reference, filesDone: 0, filesTotal: missing.count, bytesDone: 0,
                                   bytesTotal: total, waiting: nil))
        var done = 0
        for (i, (file, info)) in zip(missing, infos).enumerated() {
            let report = { [progress, reference = client.reference, before = done] (bytes: Int, waiting: DownloadProgress.Wait?) in
                progress?(DownloadProgress(reference: reference, filesDone: i, filesTotal: missing.count,
                                           bytesDone: before + bytes, bytesTotal: total, waiting: waiting))
            }
            let blob = cache.blob(info.etag)
            if !FileSystem.exists(blob) {
                let lock = cache.lock(info.etag)
                try DownloadLock.holding(lock, waiting: { report(0, DownloadProgress.Wait(file: file, lock: lock)) }) { () throws(HubError) in
                    // The process that held the lock may have finished this blob.
                    guard !FileSystem.exists(blob) else { return }
                    try BlobDownload(client: client, file: file, info: info, url: client.url(of: file, commit: commit), blob: blob)
                        .run { report($0, nil) }
                }
            }
            try cache.link(file, commit: commit, etag: info.etag)
            done += info.size
        }
        progress?(DownloadProgress(reference: client.reference, filesDone: missing.count, filesTotal: missing.count,
                                   bytesDone: total, bytesTotal: total, waiting: nil))
    }
}
