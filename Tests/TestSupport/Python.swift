import Foundation

/// `python3` from PATH, for the independent reference implementations.
public enum Python {
    /// Runs `python3 ARGS` to completion, killed after `timeout` seconds (see `ProcessRunner.run`).
    public static func run(_ arguments: [String], timeout: Double = 90) throws -> ProcessResult {
        try ProcessRunner.run("/usr/bin/env", ["python3"] + arguments, timeout: timeout)
    }

    /// Whether python3 with numpy is on PATH (the references need both).
    public static let hasNumpy: Bool = (try? run(["-c", "import numpy"]).status) == 0

    /// The first python3 that imports every one of `modules`: PATH's, else Debian's
    /// `/usr/bin/python3` (where `apt-get install python3-zmq` puts pyzmq even when PATH leads
    /// to another python, e.g. pyenv's). Its absolute path, or nil when none does.
    public static func executable(importing modules: [String]) -> String? {
        let probe = (["import sys"] + modules.map { "import \($0)" } + ["print(sys.executable)"]).joined(separator: "; ")
        for command in [["/usr/bin/env", "python3"], ["/usr/bin/python3"]] where FileManager.default.isExecutableFile(atPath: command[0]) {
            guard let result = try? ProcessRunner.run(command[0], Array(command.dropFirst()) + ["-c", probe], timeout: 30),
                  result.status == 0 else { continue }
            let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// A python3 with pyzmq and numpy (Debian's `python3-zmq`, `python3-numpy`), for the
    /// worker written from docs/protocol.md; nil when there is none.
    public static let withZMQ: String? = executable(importing: ["zmq", "numpy"])
}
