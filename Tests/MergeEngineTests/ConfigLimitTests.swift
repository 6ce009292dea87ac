import Foundation
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// A config cannot make Crucible spend unbounded time or memory: config files are size-capped.
@Suite struct ConfigLimitTests {
    @Test("a config file larger than 16 MiB is refused, naming the limit")
    func sizeCap() throws {
        let path = TemporaryFolder.path("huge.yml", label: "config")
        try Data(count: ConfigParser.maxFileBytes + 1).write(to: URL(fileURLWithPath: path))
        #expect(throws: SafeTensorsError(file: path, .ioFailure("larger than 16 MiB, the limit for a config"))) {
            _ = try ConfigParser.readFile(path)
        }
    }
}
