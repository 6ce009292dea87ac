import Foundation
import ModelHub
import TensorIO
import TestSupport
import Testing

/// Planning from headers read over HTTP (`RemoteModel`), from the stand-in Hub and from a
/// plain folder URL: the result must be what opening the same files locally gives, without
/// reading the weights, and a bad header must be refused naming its URL.
@Suite struct RemoteModelTests {
    @Test func headersReadOverHTTPEqualTheLocalFiles() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository()], folders: ["model": fixture.folder])
        let local = try Checkpoint(path: fixture.folder)
        for location in [RemoteLocation("org/name")!, RemoteLocation(server.folderURL("model") + "/")!] {
            let model = try RemoteModel.open(location, settings: fixture.settings(server))
            #expect(model.files.map(\.name) == local.files.map { ($0.path as NSString).lastPathComponent }, "\(location)")
            for (remote, file) in zip(model.files, local.files) {
                #expect(remote.tensors == file.tensors, "\(remote.url)")
                #expect(remote.size == file.fileSize && remote.header.dataStart == file.header.dataStart)
                #expect(remote.headerLength == file.header.dataStart - 8)
                #expect(remote.headerDigest == file.headerDigest)
                #expect(remote.header.metadata.map(\.key) == file.metadata.map(\.key))
                for tensor in file.tensors {
                    let start = file.header.dataStart + Int(tensor.dataOffsets.lowerBound)
                    #expect(remote.byteRange(of: tensor) == start..<(start + tensor.byteCount))
                }
            }
            // The small files are there to plan with, the weights are not.
            for name in fixture.mergeFiles where !name.hasSuffix(".safetensors") {
                #expect(FileManager.default.contents(atPath: model.folder + "/" + name) == FileManager.default.contents(atPath: fixture.files[name]!),
                        "\(location): \(name)")
            }
            #expect(try !FileManager.default.contentsOfDirectory(atPath: model.folder).contains { $0.hasSuffix(".safetensors") })
        }
        // Weights were only asked for their first MiB (the whole of these small files: the Hub
        // tells their size first, a folder URL does not).
        let sizes = local.files.map(\.fileSize)
        let reads = try server.requests.filter { $0.path.hasSuffix(".safetensors") || $0.path.hasPrefix("/cdn/") }.filter { $0.method == "GET" }
        let hub = sizes.flatMap { size in Array(repeating: "bytes=0-\(size - 1)", count: 2) }  // the Hub's URL and its CDN's
        #expect(reads.compactMap(\.range).sorted() == (hub + sizes.map { _ in "bytes=0-65535" }).sorted())
    }

    @Test func aHubModelIsPinnedToItsCommitWithTheFileSHA256() throws {
        let fixture = try HubFixture(sharded: false)
        let server = try HubServer(["org/name": fixture.repository()])
        let model = try RemoteModel.open(.hub(HubReference("org/name")!), settings: fixture.settings(server))
        #expect(model.commit == HubFixture.commit)
        #expect(model.folder == fixture.repositoryFolder() + "/snapshots/" + HubFixture.commit)
        let sha256 = try ProcessRunner.shell("sha256sum '\(fixture.files["model.safetensors"]!)'").stdout.prefix(64)
        #expect(model.files.map(\.sha256) == [String(sha256)])
        #expect(model.files[0].url == server.endpoint + "/org/name/resolve/\(HubFixture.commit)/model.safetensors")
    }

    @Test func aPrivateHubModelIsPlannedWithoutSendingTheTokenToTheCDN() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository(isPrivate: true)], token: "secret")
        let model = try RemoteModel.open(.hub(HubReference("org/name")!), settings: fixture.settings(server, token: "secret"))
        #expect(model.files.count == 2)
        let requests = try server.requests
        let cdn = requests.filter { "http://localhost:\($0.port)" == server.cdnEndpoint }
        #expect(cdn.compactMap(\.range).sorted() == model.files.map { "bytes=0-\($0.size - 1)" }.sorted())
        #expect(cdn.allSatisfy { $0.path.hasPrefix("/cdn/") && $0.authorization == nil })
        #expect(requests.filter { "http://127.0.0.1:\($0.port)" == server.endpoint }.allSatisfy { $0.authorization == "Bearer secret" })
    }

    @Test func aHeaderLargerThanTheFirstReadTakesASecondRequest() throws {
        let layout = try SafeTensorsLayout([.init(name: "w", dtype: .f32, shape: [4, 4])],
                                           metadata: [("note", String(repeating: "x", count: 1_500_000))])
        let bytes = layout.headerBytes + [UInt8](repeating: 7, count: 64)
        let folder = HubFixture.folder(with: "model.safetensors", bytes)
        let server = try HubServer(folders: ["big": folder])
        let model = try RemoteModel.open(.folder(server.folderURL("big")), settings: HubFixture().settings(server))

        let local = try SafeTensorsFile(path: folder + "/model.safetensors")
        #expect(model.files.count == 1)
        #expect(model.files[0].tensors == local.tensors && model.files[0].headerDigest == local.headerDigest)
        #expect(model.files[0].size == bytes.count && model.files[0].headerLength > 1 << 20)
        let ranges = try server.requests.filter { $0.path.hasSuffix("/model.safetensors") }.map { $0.range }
        // The first read asks for 64 KiB, the second for the rest of the header.
        #expect(ranges == ["bytes=0-65535", "bytes=65536-\(layout.dataStart - 1)"])
    }

    @Test func anOversizedHeaderIsRefusedAfterTheFirstReadNamingTheURL() throws {
        var bytes = withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { Array($0) }
        bytes += Array(repeating: 0x20, count: 100)
        let server = try HubServer(folders: ["huge": HubFixture.folder(with: "model.safetensors", bytes)])
        let url = server.folderURL("huge") + "/model.safetensors"
        let error = #expect(throws: RemoteError.self) { try RemoteModel.open(.folder(server.folderURL("huge")), settings: HubFixture().settings(server)) }
        #expect(error == .header(SafeTensorsError(file: url, .headerTooLarge(length: 200_000_000))))
        #expect(error?.description.hasPrefix(url + ": ") == true)
        #expect(try server.requests.filter { $0.path.hasSuffix("/model.safetensors") }.count == 1)
    }

    @Test func aMalformedHeaderIsRefusedNamingTheURL() throws {
        let json = Array(#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]"#.utf8)  // no closing brace
        let bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json + Array(repeating: 0, count: 8)
        let server = try HubServer(folders: ["bad": HubFixture.folder(with: "model.safetensors", bytes)])
        let url = server.folderURL("bad") + "/model.safetensors"
        let error = #expect(throws: RemoteError.self) { try RemoteModel.open(.folder(server.folderURL("bad")), settings: HubFixture().settings(server)) }
        guard case .header(let header) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(header.file == url)
        guard case .invalidJSON = header.problem else { Issue.record("\(header)"); return }
        #expect(error?.description.hasPrefix(url + ": ") == true)
    }

    @Test func aFolderWithoutWeightsOrAnOfflineSessionIsAClearError() throws {
        let server = try HubServer(folders: ["empty": TemporaryFolder.make("hub-empty")])
        let fixture = try HubFixture()
        let url = server.folderURL("empty")
        #expect(throws: RemoteError.noWeights(url: url)) { try RemoteModel.open(.folder(url), settings: fixture.settings(server)) }
        let offline = fixture.settings(server, extra: ["HF_HUB_OFFLINE": "1"])
        let before = try server.requests.count
        #expect(throws: RemoteError.offline("org/name")) { try RemoteModel.open(.hub(HubReference("org/name")!), settings: offline) }
        #expect(try server.requests.count == before)
    }

    @Test func locationsAreHubReferencesOrHTTPFolderURLs() {
        #expect(RemoteLocation("org/name@v1") == .hub(HubReference("org/name@v1")!))
        #expect(RemoteLocation("https://models.example/team/llama//") == .folder("https://models.example/team/llama"))
        #expect(RemoteLocation("http://127.0.0.1:8000/m") == .folder("http://127.0.0.1:8000/m"))
        for text in ["ftp://host/m", "https:///m", "https://host/m?x=1", "./model", "just-a-name"] {
            #expect(RemoteLocation(text) == nil, "\(text)")
        }
    }

    @Test func theTokenGoesToTheHubOriginOnly() {
        let settings = HubSettings(environment: ["HF_ENDPOINT": "https://hub.example:8443/", "HF_TOKEN": "secret"])
        #expect(settings.token(for: "https://hub.example:8443/org/name/resolve/main/x") == "secret")
        #expect(settings.token(for: "https://hub.example/org/x") == nil)
        #expect(settings.token(for: "http://hub.example:8443/org/x") == nil)
        #expect(settings.token(for: "https://bucket.example/models/x") == nil)
    }
}
