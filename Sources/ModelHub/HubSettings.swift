import Foundation

/// Where the Hub and its cache are, read from the environment variables huggingface_hub
/// reads, so that both share one cache.
public struct HubSettings: Sendable {
    /// `HF_ENDPOINT`, default `https://huggingface.co`.
    public var endpoint: String
    /// `HF_TOKEN`, sent as `Authorization: Bearer`.
    public var token: String?
    /// `HF_HUB_CACHE`, default `$HF_HOME/hub`; `HF_HOME` defaults to
    /// `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    public var cacheDirectory: String
    /// `HF_HUB_OFFLINE` set to 1/true/yes/on: use the cache only, never the network.
    public var offline: Bool
    /// Attempts per request before a download gives up; a cut connection resumes where it stopped.
    public var attempts = 5
    /// Seconds to wait before the n-th retry, times n.
    public var retryDelay = 1.0
    /// `HF_HUB_ETAG_TIMEOUT` (seconds, default 10): how long each metadata request (the file
    /// listing, a file's `HEAD`) may take in all, from connecting to its last byte. One that
    /// takes longer is an error, not retried.
    public var metadataTimeout = 10.0
    /// `HF_HUB_DOWNLOAD_TIMEOUT` (seconds, default 10): how long any request, a download in
    /// particular, may go without receiving a byte (or try to connect, at most 10 s); the
    /// download is then retried from where it stopped, as after a cut connection.
    public var downloadTimeout = 10.0
    /// Most bytes of a file listing read (it is refused as it streams in, past this), and of
    /// a weights index (refused from its HEAD).
    public var listingLimit = 16 << 20
    /// Most `.safetensors` weight files a revision may have for a merge (each is asked for
    /// its metadata and downloaded).
    public var weightFileLimit = 4096

    public init(environment: [String: String]) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var endpoint = value("HF_ENDPOINT") ?? "https://huggingface.co"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        token = value("HF_TOKEN")
        let home = value("HF_HOME")
            ?? ((value("XDG_CACHE_HOME") ?? (value("HOME") ?? "") + "/.cache") + "/huggingface")
        cacheDirectory = value("HF_HUB_CACHE") ?? home + "/hub"
        offline = ["1", "true", "yes", "on"].contains(value("HF_HUB_OFFLINE")?.lowercased() ?? "")
        // A positive number of seconds; anything else leaves the default.
        func seconds(_ name: String) -> Double? { value(name).flatMap(Double.init).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } }
        if let timeout = seconds("HF_HUB_ETAG_TIMEOUT") { metadataTimeout = timeout }
        if let timeout = seconds("HF_HUB_DOWNLOAD_TIMEOUT") { downloadTimeout = timeout }
    }
}

extension HubSettings {
    /// `token` for URLs on the endpoint's origin (scheme, host and port), nil for any other:
    /// a folder URL elsewhere never gets the Hub token.
    public func token(for url: String) -> String? {
        guard let target = URL(string: url), let hub = URL(string: endpoint) else { return nil }
        return (target.scheme, target.host, target.port) == (hub.scheme, hub.host, hub.port) ? token : nil
    }
}
