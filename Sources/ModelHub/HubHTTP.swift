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
final class HubHTTP {
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

    enum Redirects {
        case all
        /// Only those to the same server (what a HEAD does, to read the Hub's own headers on
        /// a redirect to a CDN).
        case relativeOnly
    }

    private let client: HTTPClient
    private let token: String?

    init(token: String?) {
        self.token = token
        client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(60))))
    }

    func shutdown() { try? client.syncShutdown() }

    /// Sends a request with `Authorization: Bearer <token>` and follows up to 10 redirects; the
    /// token goes only to the origin it was first sent to (not to a CDN).
    func send(_ method: HTTPMethod, _ url: String, headers extra: [(String, String)] = [], redirects: Redirects = .all,
              sink: BodySink? = nil) throws -> Response {
        var url = url
        var headers = HTTPHeaders(extra)
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        for _ in 0...10 {
            let request = try HTTPClient.Request(url: url, method: method, headers: headers)
            let (status, responseHeaders, body) = try client.execute(request: request, delegate: ResponseReader(sink: sink)).wait()
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

    /// Most bytes kept in memory (API answers, error pages).
    static let memoryLimit = 64 << 20

    private let sink: HubHTTP.BodySink?
    private var head: HTTPResponseHead?
    private var streaming = false
    private var body: [UInt8] = []

    init(sink: HubHTTP.BodySink?) { self.sink = sink }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        self.head = head
        let status = Int(head.status.code)
        if let sink, (200..<300).contains(status) {
            do { try sink.start(status, head.headers) } catch { return task.eventLoop.makeFailedFuture(error) }
            streaming = true
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        do {
            if streaming {
                try sink!.write(buffer)
            } else {
                guard body.count + buffer.readableBytes <= ResponseReader.memoryLimit else {
                    throw ResponseAccumulator.ResponseTooBigError(maxBodySize: ResponseReader.memoryLimit)
                }
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
