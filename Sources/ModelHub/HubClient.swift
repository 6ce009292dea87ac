#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import Foundation
import NIOHTTP1
import TensorIO

/// The Hub endpoints a download needs, for one repository: its files at a revision
/// (`GET /api/models/{repo}/revision/{revision}`) and one file's metadata and contents
/// (`HEAD`/`GET /{repo}/resolve/{commit}/{file}`). Connection failures and 5xx answers are
/// retried; every other failure becomes a `HubError` that names what is missing.
struct HubClient {
    /// A revision's commit and its top-level file names.
    struct Listing {
        let commit: String
        let files: [String]
    }

    /// What a `HEAD` on a file tells: its blob name and size. For LFS files (weights) the
    /// etag is the SHA-256 of the contents.
    struct FileInfo {
        let etag: String
        let size: Int
        let isLFS: Bool
    }

    let reference: HubReference
    let settings: HubSettings
    let http: HubHTTP

    func listing() throws(HubError) -> Listing {
        let url = "\(settings.endpoint)/api/models/\(reference.repository)/revision/\(HubClient.escape(reference.revision))"
        let response = try perform(file: nil, metadata: "the file listing") {
            try http.send(.GET, url, timeout: settings.metadataTimeout, bodyLimit: settings.listingLimit)
        }
        guard let json = try? JSONParser.parse(String(decoding: response.body, as: UTF8.self)).objectValue,
              let commit = json["sha"]?.stringValue, HubReference.isCommitHash(commit),
              let siblings = json["siblings"]?.arrayValue
        else { throw .invalidResponse(reference, url: url, reason: "no \"sha\" commit hash and \"siblings\" list") }
        let files = siblings.compactMap { $0.objectValue?["rfilename"]?.stringValue }.filter { !$0.contains("/") }
        return Listing(commit: commit, files: files)
    }

    func url(of file: String, commit: String) -> String {
        HubClient.url(of: file, repository: reference.repository, commit: commit, endpoint: settings.endpoint)
    }

    /// Where `endpoint` serves `file` of `repository` at `commit`.
    static func url(of file: String, repository: String, commit: String, endpoint: String) -> String {
        "\(endpoint)/\(repository)/resolve/\(commit)/\(escape(file))"
    }

    func info(_ file: String, commit: String) throws(HubError) -> FileInfo {
        let url = url(of: file, commit: commit)
        let response = try perform(file: file, metadata: "the metadata of \(file)") {
            try http.send(.HEAD, url, redirects: .relativeOnly, timeout: settings.metadataTimeout)
        }
        let linkedEtag = response.headers.first(name: "X-Linked-Etag")
        var etag = Substring(linkedEtag ?? response.headers.first(name: "ETag") ?? "")
        if etag.hasPrefix("W/") { etag = etag.dropFirst(2) }
        etag = etag.drop { $0 == "\"" }
        while etag.last == "\"" { etag.removeLast() }
        guard !etag.isEmpty, etag.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
              let size = Int(response.headers.first(name: "X-Linked-Size") ?? response.headers.first(name: "Content-Length") ?? "")
        else { throw .invalidResponse(reference, url: url, reason: "no usable ETag and size headers") }
        return FileInfo(etag: String(etag), size: size, isLFS: linkedEtag != nil)
    }

    /// Runs `request` until it gets an answer that is not a 5xx, at most `settings.attempts`
    /// times, waiting longer before each retry; `request` is called anew each time (a download
    /// asks for the bytes it still lacks). Answers other than 2xx and 3xx become `HubError`s.
    /// A request past its deadline (`metadata` names what it asked for) or with too large an
    /// answer is an error at once; one that stalled (`settings.downloadTimeout`) is retried.
    func perform(file: String?, metadata: String? = nil, _ request: () throws -> HubHTTP.Response) throws(HubError) -> HubHTTP.Response {
        var reason = ""
        for attempt in 1...max(settings.attempts, 1) {
            if attempt > 1 { usleep(UInt32(settings.retryDelay * Double(attempt - 1) * 1_000_000)) }
            let response: HubHTTP.Response
            do {
                response = try request()
            } catch let error as HubError {
                throw error
            } catch let error as HubHTTP.BodyTooLarge {
                throw .tooLarge(reference, url: error.url, limit: error.limit)
            } catch let error as HTTPClientError where error == .deadlineExceeded {
                throw .timedOut(reference, what: metadata ?? file ?? "a request", seconds: settings.metadataTimeout)
            } catch let error as HTTPClientError where error == .readTimeout {
                reason = "no data for \(settings.downloadTimeout.formatted) s (HF_HUB_DOWNLOAD_TIMEOUT)"
                continue
            } catch {
                reason = "\(error)"
                continue
            }
            guard response.status < 500 else {
                reason = "HTTP \(response.status) from \(response.url)"
                continue
            }
            try check(response, file: file)
            return response
        }
        throw .network(reference, file: file, attempts: max(settings.attempts, 1), reason: reason)
    }

    private func check(_ response: HubHTTP.Response, file: String?) throws(HubError) {
        guard !(200..<400).contains(response.status) else { return }
        let tokenSet = settings.token != nil
        switch response.headers.first(name: "X-Error-Code") {
        case "RepoNotFound": throw .repositoryNotFound(reference, endpoint: settings.endpoint, tokenSet: tokenSet)
        case "RevisionNotFound": throw .revisionNotFound(reference)
        case "EntryNotFound": throw .fileNotFound(reference, file: file ?? response.url)
        case "GatedRepo": throw .accessDenied(reference, status: response.status, tokenSet: tokenSet)
        default: break
        }
        switch response.status {
        case 401, 403: throw .accessDenied(reference, status: response.status, tokenSet: tokenSet)
        case 404:
            if let file { throw .fileNotFound(reference, file: file) }
            throw .repositoryNotFound(reference, endpoint: settings.endpoint, tokenSet: tokenSet)
        default: throw .http(reference, url: response.url, status: response.status)
        }
    }

    /// Percent-encodes a path segment (a revision like `refs/pr/1` becomes one segment).
    private static func escape(_ segment: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove("/")
        return segment.addingPercentEncoding(withAllowedCharacters: allowed) ?? segment
    }
}
