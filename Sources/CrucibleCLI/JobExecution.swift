import ArgumentParser
import ClusterRuntime
import Foundation
import JobModel
import TensorIO

/// How every command runs its job: through the coordinator with in-process workers (and
/// remote ones with `--listen`), a progress bar with the workers alive, log lines as text
/// or JSON, the per-worker table at the end, and exit status 130 after SIGINT/SIGTERM with
/// the job left for `--resume`.
enum JobExecution {
    /// A command's display: its progress bar and where its log lines go.
    struct Display {
        let bar: ProgressBar
        let log: RunLog

        init(_ runtime: ClusterCommandOptions, quiet: Bool, unit: String) {
            bar = ProgressBar(enabled: !quiet && runtime.logFormat == .text, unit: unit)
            log = RunLog(format: runtime.logFormat, quiet: quiet, bar: bar)
        }
    }

    /// `finalJob` false keeps remote workers for the command's next job.
    static func run(_ job: any DistributedJob, runtime: ClusterCommandOptions, threads: Int, quiet: Bool, unit: String,
                    finalJob: Bool = true) throws -> JobReport {
        let display = Display(runtime, quiet: quiet, unit: unit)
        defer { display.bar.finish() }
        return try run(job, runtime: runtime, threads: threads, quiet: quiet, display: display, finalJob: finalJob)
    }

    /// One job of several shown on one display (a sweep's batches): `progress` maps the job's
    /// progress onto the whole; `finalJob` false keeps remote workers for the next job.
    static func run(_ job: any DistributedJob, runtime: ClusterCommandOptions, threads: Int, quiet: Bool, display: Display,
                    finalJob: Bool = true, progress: (@Sendable (JobProgress) -> JobProgress)? = nil) throws -> JobReport {
        StopSignal.install()
        let (bar, log) = (display.bar, display.log)
        var options = try runtime.runtime(threads: threads)
        options.cluster.finalJob = finalJob
        let remote = !options.cluster.endpoints.isEmpty
        do {
            let report = try JobRuntime.run(job, options: options, log: { log($0) }) { p in
                let p = progress?(p) ?? p
                bar.update(done: p.tasksDone, total: p.tasksTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal,
                           workers: remote ? p.workers : nil, bytesFetched: p.bytesFetched)
            }
            bar.finish()
            if runtime.logFormat == .json {
                log("job finished", event: "report", fields: [
                    ("tasks", .integer(report.tasks)), ("reused", .integer(report.reused)),
                    ("seconds", .number(String(format: "%.3f", report.seconds))),
                    ("workers", .array(report.workers.map(json))),
                ])
            } else if !quiet && (!runtime.listen.isEmpty || runtime.localWorkers > 1) {
                FileHandle.standardError.write(Data((table(report.workers) + "\n").utf8))
            }
            return report
        } catch let stop as JobInterrupted {
            bar.finish()
            log("crucible: \(stop)", event: "interrupted")
            if runtime.logFormat == .text && quiet { FileHandle.standardError.write(Data("crucible: \(stop)\n".utf8)) }
            throw ExitCode(130)
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// The per-worker table: tasks, bytes each way, where its inputs came from (read from its
    /// disk, fetched from remote models' servers, shipped), compression, retries, throughput.
    static func table(_ workers: [WorkerReport]) -> String {
        let rows = workers.map { w -> [String] in
            let rate = w.seconds > 0 ? Double(w.rawBytesIn + w.rawBytesOut) / w.seconds : 0
            return [w.name + (w.gone.map { " (\($0))" } ?? ""), String(w.threads), String(w.tasks),
                    ByteCount.format(w.bytesIn), ByteCount.format(w.bytesOut),
                    ByteCount.format(w.bytesRead), ByteCount.format(w.bytesFetched), ByteCount.format(w.rawBytesOut),
                    w.local ? "in place" : String(format: "%.2f×", w.compressionRatio), String(w.retries),
                    w.local ? "-" : ByteCount.format(Int(rate)) + "/s"]
        }
        return TextTable(header: ["worker", "threads", "tasks", "bytes in", "bytes out", "inputs read", "fetched", "shipped",
                                  "compression", "retries", "wire rate"],
                         rows: rows, rightAligned: [1, 2, 3, 4, 5, 6, 7, 9, 10]).render()
    }

    static func json(_ w: WorkerReport) -> JSONValue {
        .object(JSONObject([
            ("name", .string(w.name)), ("local", .bool(w.local)), ("threads", .integer(w.threads)), ("tasks", .integer(w.tasks)),
            ("bytes_in", .integer(w.bytesIn)), ("raw_bytes_in", .integer(w.rawBytesIn)),
            ("bytes_out", .integer(w.bytesOut)), ("raw_bytes_out", .integer(w.rawBytesOut)),
            ("bytes_read", .integer(w.bytesRead)), ("bytes_fetched", .integer(w.bytesFetched)), ("bytes_shipped", .integer(w.rawBytesOut)),
            ("retries", .integer(w.retries)), ("seconds", .number(String(format: "%.3f", w.seconds))),
            ("gone", w.gone.map { .string($0) } ?? .null),
        ].map { JSONObject.Entry(key: $0.0, value: $0.1) }))
    }
}
