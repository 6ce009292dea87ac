import Foundation
import ModelHub
import TensorIO
import TestSupport
import Testing

/// Resolving `org/name[@revision]` against a stand-in Hub (Support/hub_server.py): the cache
/// layout huggingface_hub uses, redirects, errors, resumed downloads and offline mode.
@Suite struct HubDownloadTests {
    let reference = HubReference("org/name")!

    @Test func missingFilesAreDownloadedIntoTheCacheLayout() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository()])
        let folder = try ModelHub.snapshot(reference, settings: fixture.settings(server))

        let repository = fixture.repositoryFolder()
        #expect(folder == repository + "/snapshots/" + HubFixture.commit)
        #expect(try String(contentsOfFile: repository + "/refs/main", encoding: .utf8) == HubFixture.commit)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == fixture.mergeFiles)
        for name in fixture.mergeFiles {
            let link = try FileManager.default.destinationOfSymbolicLink(atPath: folder + "/" + name)
            #expect(link.hasPrefix("../../blobs/"), "\(name) links to \(link)")
            #expect(FileManager.default.contents(atPath: folder + "/" + name) == FileManager.default.contents(atPath: fixture.files[name]!))
        }
        // Weights are blobs named by their SHA-256; nothing is left incomplete.
        let blobs = try FileManager.default.contentsOfDirectory(atPath: repository + "/blobs")
        #expect(blobs.count == fixture.mergeFiles.count)
        #expect(!blobs.contains { $0.hasSuffix(".incomplete") })
        let checkpoint = try Checkpoint(path: folder)
        #expect(checkpoint.files.count == 2)
        #expect(checkpoint.tensorNames.count == 4)
    }

    @Test func weightsFollowTheRedirectToTheCDNWithoutTheToken() throws {
        let fixture = try HubFixture(sharded: false)
        let server = try HubServer(["org/name": fixture.repository(isPrivate: true)], token: "secret")
        _ = try ModelHub.snapshot(reference, settings: fixture.settings(server, token: "secret"))

        let requests = try server.requests
        let cdn = requests.filter { $0.path.hasPrefix("/cdn/") }
        #expect(cdn.count == 1)
        #expect(cdn.allSatisfy { $0.method == "GET" && $0.authorization == nil })
        #expect(requests.filter { !$0.path.hasPrefix("/cdn/") }.allSatisfy { $0.authorization == "Bearer secret" })
        let weights = fixture.repositoryFolder() + "/snapshots/\(HubFixture.commit)/model.safetensors"
        #expect(FileManager.default.contents(atPath: weights) == FileManager.default.contents(atPath: fixture.files["model.safetensors"]!))
    }

    @Test func cachedSnapshotsAreUsedWithoutARequest() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository()])
        let first = try ModelHub.snapshot(reference, settings: fixture.settings(server))
        let served = try server.requests.count

        let again = try ModelHub.snapshot(reference, settings: fixture.settings(server))
        let byCommit = try ModelHub.snapshot(HubReference("org/name@\(HubFixture.commit)")!, settings: fixture.settings(server))
        #expect(again == first && byCommit == first)
        #expect(try server.requests.count == served)
    }

    @Test func aLocalPathIsReturnedAsItIs() throws {
        let fixture = try HubFixture()
        let path = fixture.files["config.json"]!
        #expect(try ModelHub.resolve(path, environment: [:]) == path)
        #expect(throws: HubError.notAReference("no/such/model")) { try ModelHub.resolve("no/such/model", environment: [:]) }
    }

    @Test func anUnknownRepositoryOrFileIsA404NamingIt() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository()])

        let unknown = HubReference("org/unknown")!
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(unknown, settings: fixture.settings(server)) }
        #expect(error == .repositoryNotFound(unknown, endpoint: server.endpoint, tokenSet: false))
        #expect(error?.description.contains("no repository org/unknown on \(server.endpoint)") == true)

        let revision = HubReference("org/name@v2")!
        #expect(throws: HubError.revisionNotFound(revision)) { try ModelHub.snapshot(revision, settings: fixture.settings(server)) }
    }

    @Test func aShardMissingFromTheRepositoryIsNamed() throws {
        let fixture = try HubFixture()
        var repository = fixture.repository()
        repository.files["model-00002-of-00002.safetensors"] = nil
        let server = try HubServer(["org/name": repository])
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: fixture.settings(server)) }
        #expect(error == .fileNotFound(reference, file: "model-00002-of-00002.safetensors"))
        #expect(error?.description == "org/name: the repository has no file model-00002-of-00002.safetensors")
    }

    @Test func aPrivateRepositoryNeedsHFToken() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository(isPrivate: true)], token: "secret")
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: fixture.settings(server)) }
        #expect(error == .accessDenied(reference, status: 401, tokenSet: false))
        #expect(error?.description.contains("set HF_TOKEN") == true)

        let folder = try ModelHub.resolve("org/name", environment: [
            "HF_HUB_CACHE": fixture.cache, "HF_ENDPOINT": server.endpoint, "HF_TOKEN": "secret",
        ])
        #expect(try Checkpoint(path: folder).tensorNames.count == 4)
    }

    @Test func aCutConnectionIsResumedWithARangeRequest() throws {
        let fixture = try HubFixture(sharded: false)
        let server = try HubServer(["org/name": fixture.repository()], cut: ("model.safetensors", 700, 2))
        let seen = Collected<DownloadProgress>()
        let folder = try ModelHub.snapshot(reference, settings: fixture.settings(server)) { seen.append($0) }
        let progress = seen.values.map(\.bytesDone)

        let weights = folder + "/model.safetensors"
        #expect(FileManager.default.contents(atPath: weights) == FileManager.default.contents(atPath: fixture.files["model.safetensors"]!))
        let ranges = try server.requests.filter { $0.path.hasPrefix("/cdn/") }.map(\.range)
        #expect(ranges == [nil, "bytes=700-", "bytes=1400-"])
        #expect(progress == progress.sorted(), "progress never goes back")
        #expect(progress.last == seen.values.last?.bytesTotal, "it ends at the total")
    }

    @Test("a sharded download cut mid-shard reports one start and progress that only moves forward to the total")
    func shardedProgress() throws {
        let fixture = try HubFixture(sharded: true)
        let shard = try #require(fixture.files.keys.sorted().first { $0.hasPrefix("model-") })
        let server = try HubServer(["org/name": fixture.repository()], cut: (shard, 300, 1))
        let reports = Collected<DownloadProgress>()
        _ = try ModelHub.snapshot(reference, settings: fixture.settings(server)) { reports.append($0) }
        let all = reports.values
        #expect(all.filter(\.isStart).count == 1, "one start: \(all.map { ($0.filesDone, $0.bytesDone) })")
        #expect(all.map(\.bytesDone) == all.map(\.bytesDone).sorted())
        #expect(all.allSatisfy { $0.bytesTotal == all[0].bytesTotal })
        let last = try #require(all.last)
        #expect(last.bytesDone == last.bytesTotal && last.filesDone == last.filesTotal)
    }

    @Test func aConnectionCutTooOftenIsAClearErrorAndTheNextRunResumes() throws {
        let fixture = try HubFixture(sharded: false)
        let server = try HubServer(["org/name": fixture.repository()], cut: ("model.safetensors", 500, 3))
        var settings = fixture.settings(server)
        settings.attempts = 3
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: settings) }
        guard case .network(_, let file, let attempts, _)? = error else {
            Issue.record("expected a network error, got \(String(describing: error))")
            return
        }
        #expect(file == "model.safetensors" && attempts == 3)
        #expect(error?.description.contains("run again to resume") == true)

        let folder = try ModelHub.snapshot(reference, settings: settings)
        #expect(FileManager.default.contents(atPath: folder + "/model.safetensors")
                == FileManager.default.contents(atPath: fixture.files["model.safetensors"]!))
        #expect(try server.requests.filter { $0.path.hasPrefix("/cdn/") }.last?.range == "bytes=1500-")
    }

    @Test func weightsThatDoNotMatchTheirSHA256AreRejected() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository()], tamper: "model-00002-of-00002.safetensors")
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: fixture.settings(server)) }
        guard case .corrupt(_, let file, let reason)? = error else {
            Issue.record("expected a corrupt file error, got \(String(describing: error))")
            return
        }
        #expect(file == "model-00002-of-00002.safetensors" && reason.hasPrefix("SHA-256 "))
        let repository = fixture.repositoryFolder()
        #expect(!FileManager.default.fileExists(atPath: repository + "/snapshots/\(HubFixture.commit)/model-00002-of-00002.safetensors"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: repository + "/blobs").count == fixture.mergeFiles.count - 1)
    }

    @Test func aMalformedEndpointIsAClearErrorWithoutRetries() throws {
        let home = TemporaryFolder.path("home", label: "hub")
        let settings = HubSettings(environment: ["HF_HOME": home, "HF_ENDPOINT": "huggingface.co"])
        let start = Date()
        #expect(throws: HubError.badEndpoint("huggingface.co")) { try ModelHub.snapshot(reference, settings: settings) }
        #expect(Date().timeIntervalSince(start) < 2, "no retries with backoff")
    }

    @Test func offlineModeUsesTheCacheAndNeverConnects() throws {
        let fixture = try HubFixture()
        let online = try HubServer(["org/name": fixture.repository()])
        let folder = try ModelHub.snapshot(reference, settings: fixture.settings(online))
        let served = try online.requests.count

        // A server that counts: offline mode must not call it.
        let watcher = try HubServer(["org/name": fixture.repository()])
        var offline = fixture.settings(watcher)
        offline.offline = true
        #expect(try ModelHub.snapshot(reference, settings: offline) == folder)

        try FileManager.default.removeItem(atPath: folder + "/model-00002-of-00002.safetensors")
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: offline) }
        #expect(error == .offline(reference, missing: "model-00002-of-00002.safetensors", cache: folder))
        #expect(error?.description.contains("model-00002-of-00002.safetensors is not in the cache") == true)

        let other = HubReference("org/other")!
        #expect(throws: HubError.offline(other, missing: "revision main", cache: fixture.repositoryFolder("org/other"))) {
            try ModelHub.snapshot(other, settings: offline)
        }
        #expect(try watcher.requests.isEmpty)
        #expect(try online.requests.count == served)

        // Back online, only the missing shard is fetched (its blob was still there: no download).
        _ = try ModelHub.snapshot(reference, settings: fixture.settings(online))
        let fetched = try online.requests.dropFirst(served).map { "\($0.method) \($0.path)" }
        #expect(fetched == ["GET /api/models/org/name/revision/main",
                            "HEAD /org/name/resolve/\(HubFixture.commit)/model-00002-of-00002.safetensors"])
    }
}

