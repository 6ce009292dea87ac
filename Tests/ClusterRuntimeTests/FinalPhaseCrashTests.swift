import Foundation
import Testing
import TestSupport

/// The final phase of a job (everything after the last task is journaled: side files, shard
/// fsync and rename, the index, the folder rename, the journal's removal) must never lose
/// work: a coordinator SIGKILLed at any of its system calls leaves something that `--resume`
/// finishes byte-identical to an uninterrupted merge, reusing every task; a failing system
/// call there leaves the output resumable; and `--resume` on a finished output accepts it.
///
/// Faults are injected with strace (`-e inject=SYSCALL:signal=SIGKILL:when=N`) into the
/// embedded merge's main thread, which runs the final phase. Runs under strace list the final
/// phase's calls (`finalPhase`); each selected call is then hit in a fresh run of its own and
/// the stop checked against the strace log, so a miscount fails instead of testing elsewhere.
/// Every call that changes the disk is hit, and a third of the closes, msyncs and read-only
/// opens (CRUCIBLE_FINAL_PHASE_EVERY_CALL=1: all of them).
@Suite(.serialized) struct FinalPhaseCrashTests {
    /// Why strace cannot inject faults here (nil: it can), found once with a probe.
    static let unavailable: String? = {
        guard let strace = Strace.path else { return "strace is not installed (Debian: apt-get install strace)" }
        let probe = try? ProcessRunner.run(strace, ["-o", "/dev/null", "-e", "trace=uname", "-e", "inject=uname:signal=SIGKILL", "uname"],
                                           mergeErrors: true, timeout: 30)
        guard let probe, Strace.wasKilled(probe.status) else {
            let said = probe?.output.split(separator: "\n").last.map(String.init) ?? "cannot run strace"
            return "strace cannot trace or inject faults here (ptrace refused? \(said))"
        }
        return nil
    }()

    /// The merge every test runs: the bundled TIES example in three shards (an index), with
    /// tokenizer, config, model card and merge config beside them.
    static let config = "examples/ties.yml"
    static let mergeOptions = ["--out-shard-size", "40K"]

    /// `crucible merge` of the example into `out` (run in the repository, as the config's
    /// model paths are relative to it), with `extra` arguments.
    /// A run that takes longer than `timeout` seconds (20: the merge takes well under one) is
    /// killed and has status nil: a resumed job that waits for workers that never come.
    static func merge(_ out: String, _ extra: [String] = [], timeout: Double = 20) throws -> ProcessResult {
        try CrucibleBinary.run(["merge", config, out] + mergeOptions + extra, in: Fixtures.repository, mergeErrors: true, timeout: timeout)
    }

    /// A fresh output path with its parent resolved (strace shows resolved paths).
    static func outputPath(_ label: String) -> String {
        let path = Harness.output(label)
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().resolvingSymlinksInPath().path
        return parent + "/" + label
    }

    /// The reference: the embedded merge, its tensor count and its files.
    static func reference() throws -> (tasks: Int, files: [String: Data]) {
        let out = outputPath("embedded")
        let result = try merge(out)
        #expect(result.status == 0, "\(result.output)")
        let tasks = try #require(result.output.firstMatch(of: /Merged (\d+) tensors/).flatMap { Int($0.1) }, "\(result.output)")
        let files = try folderFiles(out)
        #expect(files.keys.contains { $0.hasSuffix(".safetensors") && $0.hasPrefix("model-00003-of-") },
                "the example is written in three shards: \(files.keys.sorted())")
        return (tasks, files)
    }

    /// Every file of a folder (names and bytes).
    static func folderFiles(_ folder: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
        }
        return files
    }

    /// What differs between a finished folder and the reference's files (empty: identical).
    static func differences(_ folder: String, _ reference: [String: Data]) -> [String] {
        guard let files = try? folderFiles(folder) else { return ["\(folder) cannot be read"] }
        return Set(files.keys).union(reference.keys).sorted().compactMap { name in
            switch (files[name], reference[name]) {
            case (nil, _): return "\(name) is missing"
            case (_, nil): return "\(name) should not be there"
            case let (got?, want?): return got == want ? nil : "\(name) differs"
            }
        }
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static func remove(_ out: String) {
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: out + ".partial")
    }

    /// Lists the final phase of the example's merge into `out`. Two traced runs give the
    /// output paths it names (only those both used: a randomly named temporary file cannot be
    /// aimed at); a third, traced with `-P` for each of them, gives the calls exactly as strace
    /// counts them when aiming (it matches some calls by their first path only).
    static func finalPhase(_ out: String, tasks: Int) throws -> Strace.FinalPhase {
        func record(_ filter: [String]) throws -> [Strace.Call] {
            remove(out)
            let trace = TemporaryFolder.path("trace.txt", label: "strace")
            let names = Strace.traced.filter { filter.isEmpty || $0 != "msync" }
            let run = try Strace.run(["-o", trace, "-y", "-s", "200"] + filter.flatMap { ["-P", $0] } + ["-e", "trace=" + names.joined(separator: ",")],
                                     ["merge", config, out] + mergeOptions)
            #expect(run.status == 0, "the traced merge: \(run.output)")
            return try Strace.calls(in: trace)
        }
        let first = try record([]), second = try record([])
        let paths = try Strace.FinalPhase.outputPaths(first, out: out, tasks: tasks)
            .intersection(try Strace.FinalPhase.outputPaths(second, out: out, tasks: tasks))
            .union([out + ".partial/.crucible-journal"])
        return try Strace.FinalPhase(unfiltered: first, filtered: try record(paths.sorted()), paths: paths, tasks: tasks)
    }

    /// Runs the example's merge into `out` under strace with `inject` (e.g. `signal=SIGKILL`)
    /// at `point`; returns its status, what it wrote, and the call strace tampered with.
    static func inject(_ inject: String, at point: Strace.Point, out: String) throws -> (ProcessResult, Strace.Call?) {
        remove(out)
        let trace = TemporaryFolder.path("trace.txt", label: "strace")
        let name = point.call.name
        let run = try Strace.run(["-o", trace, "-y"] + point.filter.flatMap { ["-P", $0] }
                                 + ["-e", "trace=\(name)", "-e", "inject=\(name):\(inject):when=\(point.ordinal)"],
                                 ["merge", config, out] + mergeOptions)
        // An injected error is marked; a call that a signal ended is the last one traced.
        let calls = try Strace.calls(in: trace)
        return (run, calls.first { $0.text.hasSuffix("(INJECTED)") } ?? calls.last)
    }

    /// `--resume` after a crash or failure in the final phase: it must finish the folder
    /// byte-identical to the reference, leave no `.partial`, and reuse every task when an
    /// interrupted `.partial` was there. Returns what went wrong (empty: nothing).
    static func resumeAndCheck(_ out: String, reference: (tasks: Int, files: [String: Data])) throws -> [String] {
        let wasPartial = exists(out + ".partial")
        let resumed = try merge(out, ["--resume"])
        var problems: [String] = []
        guard resumed.status == 0 else {
            let last = resumed.output.split(separator: "\n").last.map(String.init) ?? ""
            return ["--resume exited with status \(resumed.status.map(String.init) ?? "none (timed out)"): \(last)"]
        }
        if exists(out + ".partial") { problems.append("\(out).partial is still there") }
        problems += differences(out, reference.files)
        if wasPartial {
            let reused = resumed.output.firstMatch(of: /Resumed: (\d+) tensors reused/).flatMap { Int($0.1) } ?? 0
            if reused != reference.tasks { problems.append("--resume reused \(reused) of \(reference.tasks) tasks") }
        }
        return problems
    }

    @Test("a coordinator SIGKILLed at any system call of the final phase: --resume finishes byte-identical, reusing every task",
          .disabled(if: unavailable != nil, Comment(rawValue: unavailable ?? "")))
    func crashAtEveryFinalPhaseCall() throws {
        let reference = try Self.reference()
        let out = Self.outputPath("crashed")
        let phase = try Self.finalPhase(out, tasks: reference.tasks)
        let every = ProcessInfo.processInfo.environment["CRUCIBLE_FINAL_PHASE_EVERY_CALL"] == "1"
        let points = every ? phase.points : phase.selected
        #expect(points.count >= 10, "the final phase: \(phase.points.map(\.call.text))")
        var failures: [String] = []
        for point in points {
            let (killed, last) = try Self.inject("signal=SIGKILL", at: point, out: out)
            guard Strace.wasKilled(killed.status) else {
                failures.append("\(point): the merge was not killed (status \(killed.status.map(String.init) ?? "none")): \(killed.output.suffix(300))")
                continue
            }
            guard let last, last.matches(point.call) else {
                failures.append("\(point): strace stopped it at \(last?.text ?? "nothing") instead")
                continue
            }
            guard Self.exists(out) || Self.exists(out + ".partial") else {
                failures.append("\(point): neither \(out) nor its .partial folder is left")
                continue
            }
            let problems = try Self.resumeAndCheck(out, reference: reference)
            if !problems.isEmpty { failures.append("\(point): " + problems.joined(separator: "; ")) }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(points.count) crash points failed:\n\(failures.joined(separator: "\n"))")
    }

    @Test("a system call failing in the final phase leaves the output resumable; --resume reuses every task",
          .disabled(if: unavailable != nil, Comment(rawValue: unavailable ?? "")))
    func failureInFinalPhaseIsResumable() throws {
        let reference = try Self.reference()
        let out = Self.outputPath("failed")
        let phase = try Self.finalPhase(out, tasks: reference.tasks)
        // A side file that cannot be created, a shard that cannot be fsynced, a shard and the
        // folder that cannot be renamed: the disk is full, the disk fails, the target is taken.
        let shard = phase.points.first { $0.call.name.hasPrefix("rename") && $0.call.paths.contains { $0.hasSuffix(".safetensors.partial") } }
        let folder = phase.points.first { $0.call.name.hasPrefix("rename") && $0.call.paths.contains(out) }
        let sideFile = phase.points.first { $0.call.isCreation && !$0.call.paths.contains { $0.contains(".safetensors") || $0.contains("journal") } }
        let shardSync = phase.points.first { $0.call.name == "fsync" && $0.call.paths.contains { $0.hasSuffix(".safetensors.partial") } }
        let cases: [(Strace.Point?, String, String)] = [
            (sideFile, "error=ENOSPC", "creating a side file"), (shardSync, "error=EIO", "fsyncing a shard"),
            (shard, "error=EIO", "renaming a shard"), (folder, "error=EXDEV", "renaming the folder"),
        ]
        var failures: [String] = []
        for (point, error, what) in cases {
            guard let point else {
                failures.append("no call \(what) in the final phase: \(phase.points.map(\.call.text))")
                continue
            }
            let (failed, last) = try Self.inject(error, at: point, out: out)
            guard let last, last.matches(point.call) else {
                failures.append("\(what) (\(point)): strace stopped at \(last?.text ?? "nothing") instead")
                continue
            }
            guard failed.status != 0 && failed.status != nil else {
                failures.append("\(what) failed (\(error)) but the merge exited with \(failed.status.map(String.init) ?? "a timeout")")
                continue
            }
            guard Self.exists(out + ".partial") else {
                failures.append("\(what) failed (\(error)) after all \(reference.tasks) tasks were done, and \(out).partial was deleted: "
                    + "\(failed.output.split(separator: "\n").last ?? "")")
                continue
            }
            let problems = try Self.resumeAndCheck(out, reference: reference)
            if !problems.isEmpty { failures.append("\(what) failed (\(error)): " + problems.joined(separator: "; ")) }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test("--resume on an output that is already complete verifies it and exits 0, leaving it unchanged")
    func resumeOnCompleteOutput() throws {
        let reference = try Self.reference()
        let out = Self.outputPath("complete")
        #expect(try Self.merge(out, ["-q"]).status == 0)
        let resumed = try Self.merge(out, ["--resume"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(!Self.exists(out + ".partial"))
        #expect(Self.differences(out, reference.files).isEmpty, "\(Self.differences(out, reference.files))")
        // A finished output that is not what the plan describes is not accepted.
        let shard = try #require(try FileManager.default.contentsOfDirectory(atPath: out).sorted().last { $0.hasSuffix(".safetensors") })
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: out + "/" + shard))
        try handle.truncate(atOffset: try handle.seekToEnd() - 2)
        try handle.close()
        let damaged = try Self.merge(out, ["--resume"])
        #expect(damaged.status != 0, "--resume accepted a finished output whose \(shard) was cut short: \(damaged.output)")
    }
}

/// strace: running `crucible` under it and reading its output.
enum Strace {
    static let path: String? = ["/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The calls the final phase is made of (anything that creates, writes, syncs, renames or
    /// removes; opens and closes; msync of the mapped shards).
    static let traced = ["open", "openat", "creat", "write", "pwrite64", "writev", "pwritev", "pwritev2", "fsync", "fdatasync", "msync",
                         "sync_file_range", "syncfs", "close", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mkdir",
                         "mkdirat", "link", "linkat", "symlink", "symlinkat", "ftruncate", "fallocate", "copy_file_range", "sendfile"]

    /// Calls whose quoted string arguments are paths (for the others, only `-y`'s fd paths count).
    static let takesPaths: Set = ["open", "openat", "creat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mkdir",
                                  "mkdirat", "link", "linkat", "symlink", "symlinkat"]

    /// Calls that change nothing on disk by themselves (a crash there equals a crash just
    /// before the next call): only a sample of them is hit unless every call is asked for.
    static let stateless: Set = ["close", "msync"]

    /// Runs `strace OPTIONS crucible ARGS` (without -f: only the main thread, which runs the
    /// final phase, is traced) in the repository.
    /// strace ends itself with the signal that killed the traced process.
    static func wasKilled(_ status: Int32?) -> Bool { status == SIGKILL || status == 128 + SIGKILL }

    static func run(_ options: [String], _ arguments: [String]) throws -> ProcessResult {
        try ProcessRunner.run(path!, options + [CrucibleBinary.path] + arguments, in: Fixtures.repository, mergeErrors: true, timeout: 120)
    }

    /// One line of strace output: `name(arguments) = result`.
    struct Call: CustomStringConvertible {
        let name: String
        let arguments: String
        let text: String
        /// Paths it names: its path arguments and, with -y, the paths of its descriptors.
        let paths: [String]

        init?(_ line: Substring) {
            guard let match = line.firstMatch(of: /^([a-z0-9_]+)\((.*)\)\s+=\s+/) else { return nil }
            name = String(match.1)
            arguments = String(match.2)
            text = String(line)
            var paths = arguments.matches(of: /<(\/[^>]*)>/).map { String($0.1) }
            if Strace.takesPaths.contains(name) {
                paths += arguments.matches(of: /"((?:[^"\\]|\\.)*)"/).map { String($0.1) }.filter { $0.hasPrefix("/") }
            }
            self.paths = paths
        }

        /// An open that creates or truncates, or anything but a plain open or close.
        var isCreation: Bool {
            ["open", "openat", "creat"].contains(name) && (arguments.contains("O_CREAT") || arguments.contains("O_TRUNC"))
        }

        /// The same call on the same paths (descriptor numbers and results may differ).
        func matches(_ other: Call) -> Bool { name == other.name && paths == other.paths }

        var description: String { text }
    }

    static func calls(in trace: String) throws -> [Call] {
        try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").compactMap(Call.init)
    }

    /// A call of the final phase to aim at: the `ordinal`-th call of its name that strace
    /// counts when run with `-P` for each of `filter` (none for msync, which names no path).
    struct Point: CustomStringConvertible {
        let call: Call
        let ordinal: Int
        let filter: [String]
        var description: String { "\(call.text.prefix(160)) [#\(ordinal)]" }
    }

    /// The calls after the last task's journal line was made durable.
    struct FinalPhase {
        /// The output-folder paths aimed with (`-P`).
        let paths: Set<String>
        let points: [Point]

        /// The calls of a traced merge with `tasks` tasks after its last journal line was synced.
        static func calls(_ calls: [Call], tasks: Int) throws -> ArraySlice<Call> {
            func isJournal(_ call: Call) -> Bool { call.paths.contains { $0.hasSuffix("/.crucible-journal") } }
            // Each finished task is one journal line written (JSON with its task number), then synced.
            let appends = calls.indices.filter { ["write", "pwrite64", "writev"].contains(calls[$0].name) && isJournal(calls[$0])
                && calls[$0].arguments.contains("\\\"task\\\"") }
            guard appends.count == tasks, let lastAppend = appends.last else {
                throw TraceError("expected \(tasks) journal lines written on the main thread, found \(appends.count)")
            }
            guard let durable = calls[(lastAppend + 1)...].firstIndex(where: { ["fsync", "fdatasync"].contains($0.name) && isJournal($0) }) else {
                throw TraceError("the last journal line was never synced: \(calls[lastAppend].text)")
            }
            return calls[(durable + 1)...]
        }

        /// The paths in and of the output folder (and its parent) that the final phase names.
        static func outputPaths(_ trace: [Call], out: String, tasks: Int) throws -> Set<String> {
            let partial = out + ".partial"
            let parent = URL(fileURLWithPath: out).deletingLastPathComponent().path
            return Set(try calls(trace, tasks: tasks).flatMap(\.paths).filter { path in
                !path.hasSuffix(" (deleted)") && (path == parent || path == out || path == partial
                    || path.hasPrefix(out + "/") || path.hasPrefix(partial + "/"))
            })
        }

        /// `unfiltered`: a traced merge; `filtered`: one traced with `-P` for each of `paths`.
        /// Calls naming those paths are aimed at with the same `-P` filter; msyncs (which name
        /// no path) without one.
        init(unfiltered: [Call], filtered: [Call], paths: Set<String>, tasks: Int) throws {
            self.paths = paths
            var points: [Point] = []
            for index in try FinalPhase.calls(filtered, tasks: tasks).indices {
                let call = filtered[index]
                let ordinal = filtered[..<index].filter { $0.name == call.name }.count + 1
                points.append(Point(call: call, ordinal: ordinal, filter: paths.sorted()))
            }
            for index in try FinalPhase.calls(unfiltered, tasks: tasks).indices where unfiltered[index].name == "msync" {
                let ordinal = unfiltered[..<index].filter { $0.name == "msync" }.count + 1
                points.append(Point(call: unfiltered[index], ordinal: ordinal, filter: []))
            }
            guard !points.isEmpty else { throw TraceError("no call of the final phase on the main thread") }
            self.points = points
        }

        /// Every call that changes the disk, and every third of the others.
        var selected: [Point] {
            var skipped = 0
            return points.filter { point in
                guard Strace.stateless.contains(point.call.name) || (["open", "openat"].contains(point.call.name) && !point.call.isCreation) else { return true }
                skipped += 1
                return skipped % 3 == 1
            }
        }
    }

    struct TraceError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
