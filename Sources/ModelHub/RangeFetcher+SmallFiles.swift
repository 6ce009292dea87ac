import AsyncHTTPClient

extension RangeFetcher {
    /// The whole of a small file (a config, a tokenizer file, an index) by a plain `GET`,
    /// retried as range reads are; nil when the server says it has no such file (404, 410).
    /// A body over `limit` bytes is an error.
    func smallFile(_ url: String, limit: Int) throws(RemoteError) -> [UInt8]? {
        var reason = ""
        let attempts = max(options.attempts, 1)
        for failures in 0..<attempts {
            pause(after: failures)
            do {
                let response = try http.send(.GET, url, bodyLimit: limit)
                switch response.status {
                case 200: return response.body
                case 404, 410: return nil
                case 408, 429, 500...: reason = "HTTP \(response.status)"
                default: throw RemoteError.http(url: url, status: response.status)
                }
            } catch {
                reason = try retryReason(error, url: url)
            }
        }
        throw .network(url: url, attempts: attempts, reason: reason)
    }
}
