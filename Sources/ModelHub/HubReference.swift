/// A model on the Hugging Face Hub as configs and the command line name it: `org/name`, or
/// `org/name@revision` where the revision is a branch, a tag or a commit hash (`main` when
/// omitted).
public struct HubReference: Sendable, Equatable, CustomStringConvertible {
    /// `org/name`.
    public let repository: String
    public let revision: String

    /// Parses `org/name[@revision]`; nil for anything else (a path, a bare name).
    public init?(_ text: String) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let names = parts[0].split(separator: "/", omittingEmptySubsequences: false)
        guard names.count == 2, names.allSatisfy(HubReference.isRepositoryName) else { return nil }
        let revision = parts.count == 2 ? String(parts[1]) : "main"
        guard !revision.isEmpty, !revision.contains(where: \.isWhitespace),
              !revision.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else { return nil }
        repository = String(parts[0])
        self.revision = revision
    }

    /// Whether the revision is a full commit hash (40 lowercase hex digits), which names one
    /// snapshot for good.
    var isCommit: Bool { HubReference.isCommitHash(revision) }

    public var description: String { revision == "main" ? repository : "\(repository)@\(revision)" }

    static func isCommitHash(_ text: String) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The Hub's rule for one half of a repository id: letters, digits, `-`, `_`, `.`, not
    /// starting or ending with `-` or `.`.
    private static func isRepositoryName(_ name: Substring) -> Bool {
        guard let first = name.first, let last = name.last, name.count <= 96 else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
            && !"-.".contains(first) && !"-.".contains(last) && !name.contains("..") && !name.contains("--")
    }
}
