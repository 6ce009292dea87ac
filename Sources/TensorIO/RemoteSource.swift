/// Where a remote checkpoint's weight files are, for a host that reads them itself: a Hub
/// repository at a commit (each host resolves it against its own Hub endpoint), or a folder
/// URL. A file is found by its name in the model folder.
public enum RemoteSource: Sendable, Equatable {
    case hub(repository: String, commit: String)
    case folder(url: String)
}
