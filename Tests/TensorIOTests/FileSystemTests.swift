import Foundation
import Testing
import TensorIO

@Suite struct FileSystemTests {
    @Test("absolute paths: relative ones join the current folder; . and .. are resolved")
    func absolutePaths() {
        let cwd = FileManager.default.currentDirectoryPath
        #expect(FileSystem.absolute("/a/./b/../c") == "/a/c")
        #expect(FileSystem.absolute("models/base") == cwd + "/models/base")
        #expect(FileSystem.absolute("./x/../y") == cwd + "/y")
        #expect(FileSystem.absolute("/") == "/")
    }
}
