import Foundation

/// The result of one evaluation: the metric, or why there is none.
struct EvalOutcome: Sendable, Equatable {
    let metric: Double?
    let error: String?
}

/// The user's eval command: run with `/bin/sh -c` after `{model}`, `{sigma}`, `{seed}` and
/// `{base}` are replaced (as plain text, no quoting), with the same values in the environment
/// as `CRUCIBLE_MODEL`, `CRUCIBLE_SIGMA`, `CRUCIBLE_SEED`, `CRUCIBLE_BASE`. The metric is the last
/// number on its standard output; a non-zero exit, a timeout or no number is a failure.
struct EvalCommand: Sendable {
    let template: String
    /// Seconds before the command is killed (nil: no limit).
    let timeout: Double?

    init(_ template: String, timeout: Double? = nil) {
        self.template = template
        self.timeout = timeout
    }

    /// The values substituted for one evaluation.
    struct Values: Sendable {
        let model: String
        let sigma: String
        let seed: String
        let base: String
    }

    /// The command line for `values`.
    func command(_ values: Values) -> String {
        template.replacingOccurrences(of: "{model}", with: values.model)
            .replacingOccurrences(of: "{sigma}", with: values.sigma)
            .replacingOccurrences(of: "{seed}", with: values.seed)
            .replacingOccurrences(of: "{base}", with: values.base)
    }

    /// Runs the command; its standard output and error go to `log + ".out"` and `log + ".err"`.
    func run(_ values: Values, log: String) -> EvalOutcome {
        let command = command(values)
        let outPath = log + ".out", errPath = log + ".err"
        guard FileManager.default.createFile(atPath: outPath, contents: nil),
              FileManager.default.createFile(atPath: errPath, contents: nil),
              let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath) else {
            return EvalOutcome(metric: nil, error: "cannot create the eval logs \(log).out/.err")
        }
        defer {
            try? out.close()
            try? err.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["CRUCIBLE_MODEL"] = values.model
        environment["CRUCIBLE_SIGMA"] = values.sigma
        environment["CRUCIBLE_SEED"] = values.seed
        environment["CRUCIBLE_BASE"] = values.base
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            return EvalOutcome(metric: nil, error: "cannot run /bin/sh: \(error.localizedDescription)")
        }
        var timedOut = false
        if let timeout {
            if exited.wait(timeout: .now() + timeout) == .timedOut {
                timedOut = true
                let pid = process.processIdentifier
                kill(getpgid(pid) == pid ? -pid : pid, SIGKILL)
                exited.wait()
            }
        } else {
            exited.wait()
        }
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        if timedOut {
            return EvalOutcome(metric: nil, error: "timed out after \(timeout.map { "\($0)" } ?? "?") s")
        }
        if process.terminationReason == .uncaughtSignal {
            return EvalOutcome(metric: nil, error: "killed by signal \(process.terminationStatus)" + EvalCommand.tail(stderr))
        }
        if process.terminationStatus != 0 {
            return EvalOutcome(metric: nil, error: "exit status \(process.terminationStatus)" + EvalCommand.tail(stderr))
        }
        guard let metric = EvalCommand.lastNumber(in: stdout) else {
            return EvalOutcome(metric: nil, error: "no number on standard output" + EvalCommand.tail(stderr))
        }
        guard metric.isFinite else { return EvalOutcome(metric: nil, error: "the metric is \(metric)") }
        return EvalOutcome(metric: metric, error: nil)
    }

    /// `: <last line of stderr>`, or nothing.
    static func tail(_ stderr: String) -> String {
        let lines = stderr.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let last = lines.last else { return "" }
        return ": " + (last.count > 300 ? String(last.prefix(300)) + "…" : last)
    }

    /// The last number in `text` (integers, decimals, exponents; the words `nan` and `inf` count).
    static func lastNumber(in text: String) -> Double? {
        let pattern = #/[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|\b(?i:nan|inf|infinity)\b)/#
        var last: Double?
        for match in text.matches(of: pattern) {
            if let value = Double(String(match.output)) { last = value }
        }
        return last
    }
}
