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
    }
}
