import Foundation
import Glibc
import ModelHub
import Synchronization
import TestSupport
import Testing

/// Two resolutions of one uncached model at once, in two processes or two threads, against
/// a stand-in Hub that holds back the weights until told (Support/hub_server.py): each blob
/// is downloaded once, under huggingface_hub's lock `<cache>/.locks/models--org--name/<etag>.lock`,
/// while the other waits, says so and uses it; a lock nobody holds blocks nothing.
@Suite struct HubConcurrencyTests {
    let reference = HubReference("org/name")!
    /// The weights' first bytes, sent at once; the rest waits for the test's go.
    let held = 700

    @Test func twoProcessesDownloadEachFileOnceAndTheSecondSaysItWaits() throws {
        let fixture = try HubFixture(sharded: false)
        let go = TemporaryFolder.path("go", label: "hub-go")
        let server = try HubServer(["org/name": fixture.repository()], hold: ("model.safetensors", held, go))

        let first = try fixture.crucible(["inspect", "org/name"], server: server)
        let partial = try #require(waitForPartial(fixture, length: held), "the first process is downloading the weights")
        let second = try fixture.crucible(["inspect", "org/name"], server: server)
        let waited = second.waitForErrors(containing: "waiting for another process", timeout: 20)
        try Data().write(to: URL(fileURLWithPath: go))

        #expect(first.wait(20) == 0, "\(first.errors)")
        #expect(second.wait(20) == 0, "\(second.errors)")
        #expect(waited, "the second process said it waits: \(second.errors)")
        let lock = fixture.cache + "/.locks/models--org--name/\(partial.etag).lock"
        #expect(second.errors.contains("org/name: waiting for another process downloading model.safetensors (lock \(lock))"))
        let folder = fixture.repositoryFolder() + "/snapshots/" + HubFixture.commit
        for name in fixture.mergeFiles {
            #expect(FileManager.default.contents(atPath: folder + "/" + name) == FileManager.default.contents(atPath: fixture.files[name]!))
        }
        // Each file's bytes went out once (both processes asked for its size).
        let downloads = try server.requests.filter { $0.method == "GET" && !$0.path.hasPrefix("/api/") }.map(\.path)
        #expect(downloads.count == Set(downloads).count, "\(downloads)")
        #expect(downloads.filter { $0.hasPrefix("/cdn/") } == ["/cdn/\(partial.etag)"])
    }

    @Test func twoThreadsOfOneProcessDownloadEachFileOnce() throws {
        let fixture = try HubFixture(sharded: false)
        let go = TemporaryFolder.path("go", label: "hub-go")
        let server = try HubServer(["org/name": fixture.repository()], hold: ("model.safetensors", held, go))
        let (settings, reference) = (fixture.settings(server), reference)
        let firstLog = Collected<DownloadProgress>(), secondLog = Collected<DownloadProgress>()

        let first = Resolution { () throws(HubError) in try ModelHub.snapshot(reference, settings: settings) { firstLog.append($0) } }
        let partial = try #require(waitForPartial(fixture, length: held), "the first thread is downloading the weights")
        let second = Resolution { () throws(HubError) in try ModelHub.snapshot(reference, settings: settings) { secondLog.append($0) } }
        let waited = Poll.until(20) { secondLog.values.contains { $0.waiting != nil } }
        try Data().write(to: URL(fileURLWithPath: go))

        let folder = try first.value()
        #expect(try second.value() == folder)
        #expect(waited, "the second thread reported its wait")
        let waits = secondLog.values.compactMap(\.waiting)
        #expect(waits.map(\.file) == ["model.safetensors"])
        #expect(waits.map(\.lock) == [fixture.cache + "/.locks/models--org--name/\(partial.etag).lock"])
        #expect(firstLog.values.allSatisfy { $0.waiting == nil })
        #expect(secondLog.values.filter(\.isStart).count == 1, "a wait is not a start")
        #expect(FileManager.default.contents(atPath: folder + "/model.safetensors")
                == FileManager.default.contents(atPath: fixture.files["model.safetensors"]!))
        #expect(try server.requests.filter { $0.path.hasPrefix("/cdn/") }.count == 1)
    }

    @Test func aLockFileThatNobodyHoldsBlocksNothing() throws {
        let fixture = try HubFixture(sharded: false)
        let server = try HubServer(["org/name": fixture.repository()], cut: ("model.safetensors", 500, 1))
        var settings = fixture.settings(server)
        settings.attempts = 1
        #expect(throws: HubError.self) { try ModelHub.snapshot(reference, settings: settings) }
        let partial = try #require(partialFile(fixture))
        let locks = fixture.cache + "/.locks/models--org--name"
        // The failed run left its lock file, as huggingface_hub leaves them, and let go of it.
        try #require(isFree(locks + "/\(partial.etag).lock"), "no one holds the lock left behind")

        let seen = Collected<DownloadProgress>()
        let folder = try ModelHub.snapshot(reference, settings: settings) { seen.append($0) }
        #expect(seen.values.allSatisfy { $0.waiting == nil })
        #expect(FileManager.default.contents(atPath: folder + "/model.safetensors")
                == FileManager.default.contents(atPath: fixture.files["model.safetensors"]!))
        // One lock file per blob, named after it.
        let blobs = try FileManager.default.contentsOfDirectory(atPath: fixture.repositoryFolder() + "/blobs")
        #expect(try FileManager.default.contentsOfDirectory(atPath: locks).sorted() == blobs.map { $0 + ".lock" }.sorted())
    }

    @Test func aDownloaderKilledMidFileReleasesItsLockAndTheNextRunResumes() throws {
        let fixture = try HubFixture(sharded: false)
        let go = TemporaryFolder.path("go", label: "hub-go")
        let server = try HubServer(["org/name": fixture.repository()], hold: ("model.safetensors", held, go))

        let holder = try fixture.crucible(["inspect", "org/name"], server: server)
        let partial = try #require(waitForPartial(fixture, length: held), "the process is downloading the weights")
        let lock = fixture.cache + "/.locks/models--org--name/\(partial.etag).lock"
        #expect(!isFree(lock), "the downloading process holds the lock")
        holder.kill()
        try #require(isFree(lock), "the lock died with its holder")
        try Data().write(to: URL(fileURLWithPath: go))  // ends the server's side of the dead download

        let seen = Collected<DownloadProgress>()
        let folder = try ModelHub.snapshot(reference, settings: fixture.settings(server)) { seen.append($0) }
        #expect(seen.values.allSatisfy { $0.waiting == nil })
        #expect(FileManager.default.contents(atPath: folder + "/model.safetensors")
                == FileManager.default.contents(atPath: fixture.files["model.safetensors"]!))
        #expect(try server.requests.filter { $0.path.hasPrefix("/cdn/") }.map(\.range) == [nil, "bytes=\(held)-"])
        #expect(partialFile(fixture) == nil)
    }

    /// The one `blobs/<etag>.incomplete` file: its etag and length.
    private func partialFile(_ fixture: HubFixture) -> (etag: String, length: Int)? {
        let blobs = fixture.repositoryFolder() + "/blobs"
        guard let name = (try? FileManager.default.contentsOfDirectory(atPath: blobs))?.first(where: { $0.hasSuffix(".incomplete") }),
              let size = (try? FileManager.default.attributesOfItem(atPath: blobs + "/" + name))?[.size] as? Int
        else { return nil }
        return (String(name.dropLast(".incomplete".count)), size)
    }

    /// The partial file once it has `length` bytes (nil if that takes over 20 s).
    private func waitForPartial(_ fixture: HubFixture, length: Int) -> (etag: String, length: Int)? {
        var partial: (etag: String, length: Int)?
        return Poll.until(20) { partial = partialFile(fixture); return partial?.length == length } ? partial : nil
    }

    /// Whether no one holds the lock file at `path` (false if there is none); takes and drops it.
    private func isFree(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) == 0
    }
}

/// A resolution run on a thread of its own.
private final class Resolution: Sendable {
    private let outcome = Mutex<Result<String, HubError>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws(HubError) -> String) {
        Thread { [self] in
            let result = Result(catching: body)
            outcome.withLock { $0 = result }
            done.signal()
        }.start()
    }

    /// The snapshot folder, once the resolution is over (an error if it takes over 20 s).
    func value() throws -> String {
        guard done.wait(timeout: .now() + 20) == .success else { throw HubFixture.Failure("the resolution did not end within 20 s") }
        done.signal()
        return try outcome.withLock { $0! }.get()
    }
}
