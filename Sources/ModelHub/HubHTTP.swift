import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The HTTP requests of the Hub client, over AsyncHTTPClient (SwiftNIO, TLS by the BoringSSL
/// that swift-nio-ssl compiles in) rather than URLSession: on Linux, FoundationNetworking is
/// libcurl, so even a `--static-swift-stdlib` binary then loads `libcurl.so.4` and some thirty
/// libraries behind it at run time, and the release binary may only depend on libc, libzmq
/// and liblz4. Calls block the calling thread while NIO's threads do the work, so they are
/// made from synchronous code only.
final class HubHTTP: Sendable {
    /// A response after redirects: where it came from, its status and headers, and its body
    /// unless a `BodySink` took it.
    struct Response {
        let url: String
        let status: Int
        let headers: HTTPHeaders
        let body: [UInt8]
    }

    /// Where a 2xx body goes instead of memory.
    struct BodySink {
        /// Sees the status and headers before the first byte.
        var start: (_ status: Int, _ headers: HTTPHeaders) throws -> Void
        var write: (ByteBuffer) throws -> Void
    }

    /// A body kept in memory grew past `limit` bytes (checked as it arrives).
    struct BodyTooLarge: Error, CustomStringConvertible {
        let url: String
        let limit: Int
        var description: String { "the answer from \(url) is larger than \(limit) bytes" }
    }

    /// Most bytes of a body kept in memory unless a request says otherwise (error pages).
    static let defaultBodyLimit = 1 << 20

    enum Redirects {
        case all
        /// Only those to the same server (what a HEAD does, to read the Hub's own headers on
        /// a redirect to a CDN).
        case relativeOnly
    }

    private let client: HTTPClient
    private let token: String?

    /// `stallTimeout`: seconds any response may go without a byte (AsyncHTTPClient's read
    /// timeout, restarted by every byte that arrives), and at most that long to connect (10 s
    /// at most), as huggingface_hub's one `timeout` bounds both.
    init(token: String?, stallTimeout: Double) {
        self.token = token
        client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .nanoseconds(Int64(min(stallTimeout, 10) * 1e9)), read: .nanoseconds(Int64(stallTimeout * 1e9)))))
    }

    func shutdown() { try? client.syncShutdown() }

    /// Sends a request with `Authorization: Bearer <token>` and follows up to 10 redirects; the
    /// token goes only to the origin it was first sent to (not to a CDN). With `timeout`, the
    /// request and its redirects must be over within that many seconds
    /// (`HTTPClientError.deadlineExceeded`); a body kept in memory may have at most
    /// `bodyLimit` bytes (`BodyTooLarge`, as soon as it is known: from Content-Length or as
    /// the bytes arrive; a HEAD's Content-Length is the file's, not a body's).
    func send(_ method: HTTPMethod, _ url: String, headers extra: [(String, String)] = [], redirects: Redirects = .all,
              timeout: Double? = nil, bodyLimit: Int = HubHTTP.defaultBodyLimit, sink: BodySink? = nil) throws -> Response {
        let deadline = timeout.map { NIODeadline.now() + .nanoseconds(Int64($0 * 1e9)) }
        var url = url
        var headers = HTTPHeaders(extra)
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        for _ in 0...10 {
            let request = try HTTPClient.Request(url: url, method: method, headers: headers)
            let reader = ResponseReader(sink: sink, url: url, limit: method == .HEAD ? .max : bodyLimit)
            let (status, responseHeaders, body) = try client.execute(request: request, delegate: reader, deadline: deadline).wait()
            let response = Response(url: url, status: status, headers: responseHeaders, body: body)
            guard (300..<400).contains(status), let location = responseHeaders.first(name: "Location"),
                  let current = URL(string: url), let next = URL(string: location, relativeTo: current)?.absoluteURL
            else { return response }
            if redirects == .relativeOnly && URL(string: location)?.scheme != nil { return response }
            if (next.scheme, next.host, next.port) != (current.scheme, current.host, current.port) {
                headers.remove(name: "Authorization")
            }
            url = next.absoluteString
        }
        throw HTTPClientError.redirectLimitReached
    }
}

/// Reads one response for `HubHTTP.send`. AsyncHTTPClient calls it on one event loop, one
/// callback at a time, and `send` reads the result only once the request is over.
private final class ResponseReader: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = (Int, HTTPHeaders, [UInt8])

    private let sink: HubHTTP.BodySink?
    private let url: String
    /// Most bytes kept in memory (API answers, error pages).
    private let limit: Int
    private var head: HTTPResponseHead?
    private var streaming = false
    private var body: [UInt8] = []

    init(sink: HubHTTP.BodySink?, url: String, limit: Int) {
        self.sink = sink
        self.url = url
        self.limit = limit
    }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        self.head = head
        let status = Int(head.status.code)
        if let sink, (200..<300).contains(status) {
            do { try sink.start(status, head.headers) } catch { return task.eventLoop.makeFailedFuture(error) }
            streaming = true
        } else if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > limit {
            return task.eventLoop.makeFailedFuture(HubHTTP.BodyTooLarge(url: url, limit: limit))
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        do {
            if streaming {
                try sink!.write(buffer)
            } else {
                guard body.count + buffer.readableBytes <= limit else { throw HubHTTP.BodyTooLarge(url: url, limit: limit) }
                body.append(contentsOf: buffer.readableBytesView)
            }
        } catch {
            return task.eventLoop.makeFailedFuture(error)
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        (Int(head!.status.code), head!.headers, body)
    }
}
