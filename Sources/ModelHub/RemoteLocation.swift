import Foundation

/// Where a remote model's files are: a Hub repository at a revision, or a plain folder URL
/// (an HTTP server or a bucket's HTTPS endpoint holding the usual folder layout).
public enum RemoteLocation: Sendable, Equatable, CustomStringConvertible {
    case hub(HubReference)
    /// An `http://` or `https://` URL with a host and no query, without a trailing `/`.
    case folder(String)

    /// Parses `https://host/path/folder` (or `http://`) or `org/name[@revision]`; nil for
    /// anything else.
    public init?(_ text: String) {
        if text.hasPrefix("http://") || text.hasPrefix("https://") {
            var folder = Substring(text)
            while folder.hasSuffix("/") { folder.removeLast() }
            guard let url = URL(string: String(folder)), url.host?.isEmpty == false, url.query == nil, url.fragment == nil else { return nil }
            self = .folder(String(folder))
        } else if let reference = HubReference(text) {
            self = .hub(reference)
        } else {
            return nil
        }
    }

    public var isFolder: Bool { if case .folder = self { true } else { false } }

    public var description: String {
        switch self {
        case .hub(let reference): reference.description
        case .folder(let url): url
        }
    }
}
