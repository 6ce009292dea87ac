import Foundation
import ModelHub
import TensorIO

/// Model arguments and config entries that name a Hugging Face Hub model (`org/name[@rev]`):
/// resolved through the Hub cache, downloading what is missing with a progress bar.
enum HubModels {
    /// The local file or folder for `reference` (`ModelHub.resolve` with this process's environment).
    static func resolve(_ reference: String, quiet: Bool) throws -> String {
        let bar = ProgressBar(enabled: !quiet, unit: "files")
        defer { bar.finish() }
        return try CLIError.wrap {
            try ModelHub.resolve(reference, environment: ProcessInfo.processInfo.environment) { p in
                if p.filesDone == 0 && p.bytesDone == 0 && !quiet {
                    bar.log("\(p.reference): downloading \(p.filesTotal) file\(p.filesTotal == 1 ? "" : "s") "
                            + "(\(ByteCount.format(p.bytesTotal))) from the Hugging Face Hub")
                }
                bar.update(done: p.filesDone, total: p.filesTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal)
            }
        }
    }

    /// `resolve` as `PlanOptions.resolveModel`.
    static func resolver(quiet: Bool) -> @Sendable (String) throws -> String {
        { try resolve($0, quiet: quiet) }
    }
}
