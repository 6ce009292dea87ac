/// How far fetching a model's files has come, for a progress display.
public struct DownloadProgress: Sendable {
    /// Another process downloading a file this one needs: this one waits for it to finish
    /// (as long as it takes), then uses what it downloaded.
    public struct Wait: Sendable, CustomStringConvertible {
        public let file: String
        /// The lock file the other process holds.
        public let lock: String

        public var description: String { "waiting for another process downloading \(file) (lock \(lock))" }
    }

    public let reference: HubReference
    public let filesDone: Int
    public let filesTotal: Int
    public let bytesDone: Int
    public let bytesTotal: Int
    /// Set on the one report made when a wait for another process has lasted a second; such
    /// a report moves nothing forward, and may come before the start.
    public let waiting: Wait?

    /// The first report of a download, and the only one with nothing done that is not a wait.
    public var isStart: Bool { filesDone == 0 && bytesDone == 0 && waiting == nil }
}
