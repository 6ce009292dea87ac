import Foundation
import TensorIO

/// Models from the Hugging Face Hub as local folders, through the cache huggingface_hub
/// uses (`HubSettings`), so that models it downloaded are found and vice versa.
public enum ModelHub {
    /// The local file or folder for a model reference: the reference itself when it names an
    /// existing file or folder; else, for `org/name[@revision]`, its snapshot folder in the
    /// cache, taken as it is when its weights are complete (no request), downloaded into
    /// the cache first otherwise (only the files a merge needs).
    public static func resolve(_ reference: String, environment: [String: String],
                               progress: (@Sendable (DownloadProgress) -> Void)? = nil) throws(HubError) -> String {
        FileSystem.exists(reference) ? reference : try hubSnapshot(reference, environment: environment, progress: progress)
    }

    /// The snapshot folder for `org/name[@revision]` (see `snapshot`), for callers that have
    /// already looked for a local path themselves (the planner, relative to its folder).
    public static func hubSnapshot(_ reference: String, environment: [String: String],
                                   progress: (@Sendable (DownloadProgress) -> Void)? = nil) throws(HubError) -> String {
        guard let hubReference = HubReference(reference) else { throw .notAReference(reference) }
        return try snapshot(hubReference, settings: HubSettings(environment: environment), progress: progress)
    }

    /// The snapshot folder of `reference`, from the cache or downloaded (see `resolve`). In
    /// offline mode a snapshot that is not complete is an error naming what it lacks.
    public static func snapshot(_ reference: HubReference, settings: HubSettings,
                                progress: (@Sendable (DownloadProgress) -> Void)? = nil) throws(HubError) -> String {
        let cache = RepoCache(cacheDirectory: settings.cacheDirectory, repository: reference.repository)
        if let commit = cache.commit(for: reference) {
            let folder = cache.snapshot(commit)
            let missing = MergeFiles.missing(in: folder)
            if missing.isEmpty { return folder }
            if settings.offline { throw .offline(reference, missing: missing[0], cache: folder) }
        } else if settings.offline {
            throw .offline(reference, missing: "revision \(reference.revision)", cache: cache.root)
        }
        // Checked once here: a malformed endpoint is not a network error worth retrying.
        guard let url = URL(string: settings.endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw .badEndpoint(settings.endpoint)
        }
        let http = HubHTTP(token: settings.token, stallTimeout: settings.downloadTimeout)
        defer { http.shutdown() }
        return try SnapshotDownload(client: HubClient(reference: reference, settings: settings, http: http),
                                    cache: cache, progress: progress).run()
    }
}
