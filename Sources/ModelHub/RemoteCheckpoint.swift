import TensorIO

extension RemoteModel {
    /// The model as a `Checkpoint` whose weight files are remote: planning sees every tensor
    /// from the headers, and a tensor's bytes are read with range requests when it is asked
    /// for (one request per tensor, retried and checked as `RangeFetcher` does). The token
    /// goes to the Hub's origin only (`HubSettings.token(for:)`).
    public func checkpoint(settings: HubSettings) throws(SafeTensorsError) -> Checkpoint {
        let reader = RemoteBytes(fetcher: RangeFetcher(token: files.first.flatMap { settings.token(for: $0.url) },
                                                       options: RangeFetcher.Options(settings: settings)))
        let opened = files.map { file in
            (name: file.name, file: SafeTensorsFile(remote: file.url, header: file.header, size: file.size, headerDigest: file.headerDigest,
                                                    source: reader.file(file.url, size: file.size)))
        }
        return try Checkpoint(path: location.description, folder: folder, files: opened)
    }
}

/// The connections a remote checkpoint's files read through; closed when the last file goes.
final class RemoteBytes: Sendable {
    let fetcher: RangeFetcher

    init(fetcher: RangeFetcher) { self.fetcher = fetcher }
    deinit { fetcher.shutdown() }

    func file(_ url: String, size: Int) -> File { File(reader: self, url: url, size: size) }

    /// One file's bytes.
    struct File: ByteRangeSource {
        let reader: RemoteBytes
        let url: String
        let size: Int

        func read(_ range: Range<Int>, into destination: UnsafeMutableRawBufferPointer) throws(SafeTensorsError) {
            let target = UncheckedBuffer(pointer: destination)
            do {
                try reader.fetcher.fetch(url, fileSize: size, ranges: [range]) { _, offset, bytes in
                    UnsafeMutableRawBufferPointer(rebasing: target.pointer[offset..<(offset + bytes.count)]).copyMemory(from: bytes)
                }
            } catch {
                throw SafeTensorsError(file: url, .ioFailure("\(error)"))
            }
        }
    }

    /// The destination of one read, written by the fetcher's threads at disjoint offsets.
    private struct UncheckedBuffer: @unchecked Sendable { let pointer: UnsafeMutableRawBufferPointer }
}
