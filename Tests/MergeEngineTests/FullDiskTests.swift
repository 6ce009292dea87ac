import Foundation
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// A full disk is a clean error before any work, naming the file, with nothing left behind.
@Suite(.serialized) struct FullDiskTests {
    /// Mounts a tmpfs of `kilobytes` at a fresh folder, or returns nil where mounting is not
    /// permitted (not root, no CAP_SYS_ADMIN).
    func smallDisk(kilobytes: Int) -> String? {
        let path = TemporaryFolder.make("tinyfs")
        let mount = try? ProcessRunner.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path])
        return mount?.status == 0 ? path : nil
    }

    func unmount(_ path: String) {
        _ = try? ProcessRunner.run("/bin/umount", [path])
    }

    @Test("an output that does not fit fails up front with ENOSPC and leaves no folder")
    func outputThatDoesNotFit() throws {
        guard let disk = smallDisk(kilobytes: 128) else {
            print("FullDiskTests: skipped, cannot mount a tmpfs here (needs root)")
            return
        }
        defer { unmount(disk) }
        let plan = try GoldenFixtures.plan(try GoldenFixtures.configText("linear"))  // 321 KB of output
        let out = disk + "/merged"
        do {
            _ = try MergeRunner.run(plan, to: out, options: MergeOptions(threads: 2))
            Issue.record("the merge should not fit in 128 KB")
        } catch let error as SafeTensorsError {
            #expect(error.description.contains("No space left on device"), "\(error)")
            #expect(error.file.hasPrefix(out))
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
    }
}
