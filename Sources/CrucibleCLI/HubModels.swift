import Foundation
import ModelHub
import Synchronization
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

    /// `PlanOptions.openRemote`: a folder URL, and a Hub reference when `rangeReads`, is a
    /// remote checkpoint read by ranges (docs/remote-models.md); any other reference is opened
    /// from its Hub snapshot (`hubSnapshot`), downloaded whole.
    static func opener(rangeReads: Bool, quiet: Bool) -> @Sendable (String) throws -> Checkpoint {
        { reference in
            guard readByRanges(reference, rangeReads: rangeReads), let location = RemoteLocation(reference) else {
                return try Checkpoint(path: hubSnapshot(reference, quiet: quiet))
            }
            let settings = HubSettings(environment: ProcessInfo.processInfo.environment)
            if !quiet { FileHandle.standardError.write(Data("reading the headers of \(location)\n".utf8)) }
            let model = try RemoteModel.open(location, settings: settings)
            // A folder URL's small files are in a folder of this run's own (a Hub model's, in the cache).
            if location.isFolder { TemporaryFolders.removeAtExit(model.folder) }
            return try model.checkpoint(settings: settings)
        }
    }

    /// A model to measure or compare (eval, score, sweep, prune, analyze), opened: a folder URL, and a Hub reference with
    /// `rangeReads`, as a remote checkpoint read by ranges; anything else from its path or
    /// Hub snapshot (`resolve`).
    static func measured(_ reference: String, rangeReads: Bool, quiet: Bool) throws -> Checkpoint {
        if FileSystem.exists(reference) { return try CLIError.wrap { try Checkpoint(path: reference) } }
        return try CLIError.wrap { try opener(rangeReads: rangeReads, quiet: quiet)(reference) }
    }

    /// Whether `reference` is a remote model read by ranges: a folder URL, or a Hub reference
    /// with `rangeReads`, that is not a local path.
    static func readByRanges(_ reference: String, rangeReads: Bool) -> Bool {
        !FileSystem.exists(reference) && (RemoteLocation(reference).map { rangeReads || $0.isFolder } ?? false)
    }

    /// Models opened once each, by `measured`, for a command that needs them in several places
    /// (a planner among them, whose `openRemote` it can be).
    final class Opened: Sendable {
        private let rangeReads: Bool
        private let quiet: Bool
        private let opened = Mutex<[String: Checkpoint]>([:])

        init(rangeReads: Bool, quiet: Bool) { (self.rangeReads, self.quiet) = (rangeReads, quiet) }

        func checkpoint(_ reference: String) throws -> Checkpoint {
            if let checkpoint = opened.withLock({ $0[reference] }) { return checkpoint }
            let checkpoint = try measured(reference, rangeReads: rangeReads, quiet: quiet)
            opened.withLock { $0[reference] = checkpoint }
            return checkpoint
        }
    }

    /// `hubSnapshot` as `PlanOptions.resolveModel` (the planner has looked for a local path).
    static func resolver(quiet: Bool) -> @Sendable (String) throws -> String {
        { try hubSnapshot($0, quiet: quiet) }
    }
}
