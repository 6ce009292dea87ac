import Foundation
import ModelHub
import TensorIO
import TestSupport
import Testing

/// The bounds on what a Hub may make Crucible do (Support/hub_server.py's listing and stall
/// modes): a deadline on each metadata request, a size cap on the listing enforced as it
/// streams in, a cap on the weight files of a revision checked before any HEAD, and a stall
/// timeout on downloads. Deadlines are set small through huggingface_hub's variables.
@Suite struct HubBoundsTests {
    let reference = HubReference("org/name")!

    @Test func defaults() {
        let settings = HubSettings(environment: [:])
        #expect(settings.metadataTimeout == 10 && settings.downloadTimeout == 10)
        #expect(settings.listingLimit == 16 << 20 && settings.weightFileLimit == 4096)
        let set = HubSettings(environment: ["HF_HUB_ETAG_TIMEOUT": "2.5", "HF_HUB_DOWNLOAD_TIMEOUT": "30"])
        #expect(set.metadataTimeout == 2.5 && set.downloadTimeout == 30)
        let ignored = HubSettings(environment: ["HF_HUB_ETAG_TIMEOUT": "soon", "HF_HUB_DOWNLOAD_TIMEOUT": "-1"])
        #expect(ignored.metadataTimeout == 10 && ignored.downloadTimeout == 10)
    }

    @Test("a listing that trickles in fails at HF_HUB_ETAG_TIMEOUT, without retries")
    func slowListingHitsTheDeadline() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository()], drip: 0.5)
        let settings = fixture.settings(server, extra: ["HF_HUB_ETAG_TIMEOUT": "1"])
        let start = Date()
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: settings) }
        let seconds = Date().timeIntervalSince(start)
        #expect(error == .timedOut(reference, what: "the file listing", seconds: 1))
        #expect(error?.description == "org/name: the file listing took longer than 1 s (HF_HUB_ETAG_TIMEOUT); "
                + "set HF_HUB_ETAG_TIMEOUT to allow more seconds")
        #expect(seconds >= 0.9 && seconds < 10, "\(seconds) s")
        #expect(try server.requests.count == 1)
    }

    @Test("crucible reports the deadline and exits")
    func slowListingFromTheCommandLine() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository()], drip: 0.5)
        let process = try fixture.crucible(["inspect", "org/name"], server: server, extra: ["HF_HUB_ETAG_TIMEOUT": "1"])
        let status = process.wait(60)
        #expect(status != nil && status != 0)
        #expect(process.errors.contains("the file listing took longer than 1 s (HF_HUB_ETAG_TIMEOUT)"), "\(process.errors)")
    }

    @Test("a listing that never ends is refused once it passes the cap, as it streams in")
    func endlessListingIsCut() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository()], endless: true)
        var settings = fixture.settings(server)
        settings.listingLimit = 1 << 20
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: settings) }
        let url = "\(server.endpoint)/api/models/org/name/revision/main"
        #expect(error == .tooLarge(reference, url: url, limit: 1 << 20))
        #expect(error?.description.contains("is larger than 1 MiB, the most Crucible reads") == true, "\(String(describing: error))")
        #expect(try server.requests.count == 1, "not retried")
    }

    @Test("a listing whose Content-Length is over the cap is refused before its body")
    func announcedListingOverTheCap() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/name": fixture.repository()], extra: 5000)
        var settings = fixture.settings(server)
        settings.listingLimit = 64 << 10
        #expect(throws: HubError.tooLarge(reference, url: "\(server.endpoint)/api/models/org/name/revision/main", limit: 64 << 10)) {
            try ModelHub.snapshot(reference, settings: settings)
        }
    }

    @Test("an index larger than the listing cap is refused from its HEAD, before it is downloaded")
    func largeIndexIsRefused() throws {
        let fixture = try HubFixture(sharded: true)
        let index = try #require(fixture.files["model.safetensors.index.json"])
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: index))) as? [String: Any])
        json["metadata"] = ["padding": String(repeating: "x", count: 20_000)]
        let padded = TemporaryFolder.make("index") + "/model.safetensors.index.json"
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: padded))
        var repository = fixture.repository()
        repository.files["model.safetensors.index.json"] = padded
        let server = try HubServer(["org/name": repository])
        var settings = fixture.settings(server)
        settings.listingLimit = 16 << 10
        let url = "\(server.endpoint)/org/name/resolve/\(HubFixture.commit)/model.safetensors.index.json"
        #expect(throws: HubError.tooLarge(reference, url: url, limit: 16 << 10)) { try ModelHub.snapshot(reference, settings: settings) }
        #expect(try server.requests.map(\.method) == ["GET", "HEAD"])
    }

    @Test("of a listing with many files only those a merge needs are asked for")
    func manyFilesAreFilteredFirst() throws {
        let fixture = try HubFixture(sharded: true)
        let server = try HubServer(["org/name": fixture.repository()], extra: 20_000)
        _ = try ModelHub.snapshot(reference, settings: fixture.settings(server))
        let heads = try server.requests.filter { $0.method == "HEAD" }.map { String($0.path.split(separator: "/").last!) }
        #expect(heads.sorted() == fixture.mergeFiles)
    }

    @Test("more weight files than the cap is an error before any HEAD")
    func tooManyWeightFiles() throws {
        let fixture = try HubFixture(sharded: false)
        var repository = fixture.repository()
        repository.files["model.safetensors"] = nil  // without it, every top-level .safetensors file is a weight file
        let server = try HubServer(["org/name": repository], extra: 5000)
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: fixture.settings(server)) }
        #expect(error == .tooManyWeightFiles(reference, count: 5000, limit: 4096))
        #expect(error?.description == "org/name: the revision has 5000 .safetensors weight files, more than the 4096 Crucible fetches for one model")
        #expect(try server.requests.map(\.method) == ["GET"])
    }

    @Test("a download that stalls for HF_HUB_DOWNLOAD_TIMEOUT is resumed from where it stopped")
    func stalledDownloadResumes() throws {
        let fixture = try HubFixture(sharded: false)
        let server = try HubServer(["org/name": fixture.repository()], stall: ("model.safetensors", 700, 1))
        let folder = try ModelHub.snapshot(reference, settings: fixture.settings(server, extra: ["HF_HUB_DOWNLOAD_TIMEOUT": "1"]))
        #expect(FileManager.default.contents(atPath: folder + "/model.safetensors")
                == FileManager.default.contents(atPath: fixture.files["model.safetensors"]!))
        #expect(try server.requests.filter { $0.path.hasPrefix("/cdn/") }.map(\.range) == [nil, "bytes=700-"])
    }

    @Test("a download that stalls every time fails clearly, naming the timeout")
    func downloadThatAlwaysStalls() throws {
        let fixture = try HubFixture(sharded: false)
        let server = try HubServer(["org/name": fixture.repository()], stall: ("model.safetensors", 100, 100))
        var settings = fixture.settings(server, extra: ["HF_HUB_DOWNLOAD_TIMEOUT": "0.5"])
        settings.attempts = 2
        let start = Date()
        let error = #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: settings) }
        #expect(error == .network(reference, file: "model.safetensors", attempts: 2, reason: "no data for 0.5 s (HF_HUB_DOWNLOAD_TIMEOUT)"))
        #expect(Date().timeIntervalSince(start) < 20)
        #expect(try server.requests.filter { $0.path.hasPrefix("/cdn/") }.map(\.range) == [nil, "bytes=100-"])
    }
}
