import Foundation
import ModelHub
import TensorIO

/// Model arguments and config entries that name a Hugging Face Hub model (`org/name[@rev]`):
/// resolved through the Hub cache, downloading what is missing with a progress bar.
enum HubModels {
    /// The local file or folder for a MODEL argument: the path itself when it exists, else
    /// its Hub snapshot.
    static func resolve(_ reference: String, quiet: Bool) throws -> String {
        try withProgress(quiet: quiet) { environment, progress throws(HubError) in
            try ModelHub.resolve(reference, environment: environment, progress: progress)
        }
    }

    /// The snapshot folder of `org/name[@rev]` with this process's environment, downloading
    /// what is missing behind a progress bar.
    static func hubSnapshot(_ reference: String, quiet: Bool) throws -> String {
        try withProgress(quiet: quiet) { environment, progress throws(HubError) in
            try ModelHub.hubSnapshot(reference, environment: environment, progress: progress)
        }
    }

    /// Runs a Hub lookup with this process's environment and a progress bar. A wait for
    /// another process that downloads the same file is logged even when `quiet`: it could
    /// otherwise pass for a hang.
    private static func withProgress(
        quiet: Bool, _ body: ([String: String], @escaping @Sendable (DownloadProgress) -> Void) throws(HubError) -> String
    ) throws -> String {
        let bar = ProgressBar(enabled: !quiet, unit: "files")
        defer { bar.finish() }
        return try CLIError.wrap {
            try body(ProcessInfo.processInfo.environment) { p in
                if let wait = p.waiting {
                    bar.log("\(p.reference): \(wait)")
                    return
                }
                if p.isStart && !quiet {
                    bar.log("\(p.reference): downloading \(p.filesTotal) file\(p.filesTotal == 1 ? "" : "s") "
                            + "(\(ByteCount.format(p.bytesTotal))) from the Hugging Face Hub")
                }
                bar.update(done: p.filesDone, total: p.filesTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal)
            }
        }
    }

    /// `hubSnapshot` as `PlanOptions.resolveModel` (the planner has looked for a local path).
    static func resolver(quiet: Bool) -> @Sendable (String) throws -> String {
        { try hubSnapshot($0, quiet: quiet) }
    }
}
