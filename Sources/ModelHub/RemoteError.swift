import TensorIO

/// Why a remote model could not be planned from its headers, or a byte range of one of its
/// files not be read: each case names the URL (or the Hub reference) and what went wrong.
public enum RemoteError: Error, Equatable, CustomStringConvertible {
    /// Neither `org/name[@revision]` nor an `http://` or `https://` URL with a host.
    case notALocation(String)
    /// Resolving a Hub reference (listing, config and tokenizer files) failed.
    case hub(HubError)
    /// `HF_HUB_OFFLINE` is set: headers and ranges need the network.
    case offline(String)
    /// A status other than the one asked for (4xx, or 5xx after every retry was spent).
    case http(url: String, status: Int)
    /// The connection failed, stalled or answered 5xx `attempts` times in a row.
    case network(url: String, attempts: Int, reason: String)
    /// The server answered something that cannot be the bytes asked for: not 206, a
    /// Content-Range other than the range requested, a size other than the plan's.
    case invalidResponse(url: String, reason: String)
    /// The file at the URL is not the one the job was planned from (its size or header differs).
    case notPlanned(url: String, reason: String)
    /// The URL names no weights (`model.safetensors.index.json` nor `model.safetensors`).
    case noWeights(url: String)
    /// A safetensors header that does not parse; the error's file is the URL.
    case header(SafeTensorsError)
    /// A local file (the companion folder, a scratch file) could not be written.
    case local(String)

    public var description: String {
        switch self {
        case .notALocation(let text):
            return "\(text): not a Hugging Face Hub model (org/name or org/name@revision) nor an http:// or https:// folder URL"
        case .hub(let error):
            return error.description
        case .offline(let location):
            return "\(location): reading remote weights needs the network and HF_HUB_OFFLINE is set"
        case .http(let url, let status):
            return "\(url): HTTP \(status)"
        case .network(let url, let attempts, let reason):
            return "\(url): failed \(attempts) time\(attempts == 1 ? "" : "s") (\(reason))"
        case .invalidResponse(let url, let reason):
            return "\(url): unexpected answer: \(reason)"
        case .notPlanned(let url, let reason):
            return "\(url): not the file the job was planned from (\(reason))"
        case .noWeights(let url):
            return "\(url): no \(Checkpoint.indexFileName) nor \(Checkpoint.singleFileName) there"
        case .header(let error):
            return error.description
        case .local(let message):
            return message
        }
    }
}
