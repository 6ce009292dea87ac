import ArgumentParser

/// `--range-reads` (merge, prune, eval, score, sweep, analyze): Hub models read by HTTP ranges, not downloaded.
struct RangeReadOptions: ParsableArguments {
    @Flag(help: ArgumentHelp("Plan Hub models from their headers and read their tensors with HTTP range requests, instead of downloading them whole.",
                             discussion: "Only config.json, the index, the tokenizer files and each weight file's header are downloaded first (a --dry-run needs nothing more); a tensor's bytes are read when a task needs them, by the worker that runs it where it can fetch them itself. Models given as https:// folder URLs are always read this way (docs/remote-models.md)."))
    var rangeReads = false
}
