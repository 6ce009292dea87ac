/// Why a model could not be made available locally, worded for the person running the
/// command: what is missing, where, and what to do.
public enum HubError: Error, Equatable, CustomStringConvertible {
    /// Neither an existing path nor `org/name[@revision]`.
    case notAReference(String)
    case repositoryNotFound(HubReference, endpoint: String, tokenSet: Bool)
    case revisionNotFound(HubReference)
    case fileNotFound(HubReference, file: String)
    /// The revision has no `.safetensors` weights.
    case noWeights(HubReference)
    /// 401 or 403: private or gated.
    case accessDenied(HubReference, status: Int, tokenSet: Bool)
    /// `HF_HUB_OFFLINE` is set and `missing` is not in the cache.
    case offline(HubReference, missing: String, cache: String)
    /// Any other HTTP status.
    case http(HubReference, url: String, status: Int)
    /// The connection failed `attempts` times in a row.
    case network(HubReference, file: String?, attempts: Int, reason: String)
    /// A downloaded file is not what the Hub announced (size or SHA-256).
    case corrupt(HubReference, file: String, reason: String)
    /// A metadata request (`what`: the file listing, a file's metadata) was not over within
    /// `seconds` (`HF_HUB_ETAG_TIMEOUT`).
    case timedOut(HubReference, what: String, seconds: Double)
    /// An answer kept in memory (the file listing) is larger than `limit` bytes.
    case tooLarge(HubReference, url: String, limit: Int)
    /// The revision has `count` weight files, more than the `limit` a merge fetches.
    case tooManyWeightFiles(HubReference, count: Int, limit: Int)
    /// The Hub answered something this client cannot use.
    case invalidResponse(HubReference, url: String, reason: String)
    /// The cache folder could not be read or written (the message names the path).
    case cache(String)
    /// HF_ENDPOINT is not an http(s) URL.
    case badEndpoint(String)

    public var description: String {
        switch self {
        case .notAReference(let text):
            return "\(text): no such file or folder, and not a Hugging Face Hub model (org/name or org/name@revision)"
        case .repositoryNotFound(let ref, let endpoint, let tokenSet):
            return "\(ref): no local folder of that name, and no repository \(ref.repository) on \(endpoint)"
                + (tokenSet ? "" : " (if it is private or gated, set HF_TOKEN)")
        case .revisionNotFound(let ref):
            return "\(ref): the repository has no revision \"\(ref.revision)\""
        case .fileNotFound(let ref, let file):
            return "\(ref): the repository has no file \(file)"
        case .noWeights(let ref):
            return "\(ref): the repository has no .safetensors weights (convert PyTorch .bin weights to safetensors first)"
        case .accessDenied(let ref, let status, let tokenSet):
            return "\(ref): access denied (HTTP \(status)); "
                + (tokenSet ? "HF_TOKEN does not grant access to this repository (accept its conditions on the Hub if it is gated)"
                            : "it is private or gated: set HF_TOKEN to a token that can read it")
        case .offline(let ref, let missing, let cache):
            return "\(ref): \(missing) is not in the cache (\(cache)) and HF_HUB_OFFLINE is set; "
                + "download it once without HF_HUB_OFFLINE"
        case .http(let ref, let url, let status):
            return "\(ref): HTTP \(status) from \(url)"
        case .network(let ref, let file, let attempts, let reason):
            return "\(ref): " + (file.map { "downloading \($0) " } ?? "")
                + "failed \(attempts) time\(attempts == 1 ? "" : "s") (\(reason)); run again to resume"
        case .corrupt(let ref, let file, let reason):
            return "\(ref): downloaded \(file) is corrupt (\(reason)); it was deleted, run again to download it anew"
        case .timedOut(let ref, let what, let seconds):
            return "\(ref): \(what) took longer than \(seconds.formatted) s (HF_HUB_ETAG_TIMEOUT); "
                + "set HF_HUB_ETAG_TIMEOUT to allow more seconds"
        case .tooLarge(let ref, let url, let limit):
            return "\(ref): the answer from \(url) is larger than \(limit % (1 << 20) == 0 ? "\(limit >> 20) MiB" : "\(limit) bytes"), the most Crucible reads; "
                + "is this a model repository?"
        case .tooManyWeightFiles(let ref, let count, let limit):
            return "\(ref): the revision has \(count) .safetensors weight files, more than the \(limit) Crucible fetches for one model"
        case .invalidResponse(let ref, let url, let reason):
            return "\(ref): unexpected answer from \(url): \(reason)"
        case .cache(let message):
            return message
        case .badEndpoint(let endpoint):
            return "HF_ENDPOINT=\(endpoint) is not an http:// or https:// URL"
        }
    }
}

extension Double {
    /// `10` rather than `10.0`; other values as they are.
    var formatted: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
