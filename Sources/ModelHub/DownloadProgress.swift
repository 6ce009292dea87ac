/// How far fetching a model's files has come, for a progress display.
public struct DownloadProgress: Sendable {
    public let reference: HubReference
    public let filesDone: Int
    public let filesTotal: Int
    public let bytesDone: Int
    public let bytesTotal: Int

    /// The first report of a download, and the only one with nothing done.
    public var isStart: Bool { filesDone == 0 && bytesDone == 0 }
}
