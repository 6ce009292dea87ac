import Foundation

/// Fresh, uniquely named folders under the system temporary folder (left in place after the
/// test, so a failure can be looked at).
public enum TemporaryFolder {
    /// Creates `crucible-<label>-<UUID>` and returns its path.
    public static func make(_ label: String = "tests") -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("crucible-\(label)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The path `name` inside a fresh folder: its parent exists, the path itself does not.
    public static func path(_ name: String, label: String = "tests") -> String {
        make(label) + "/" + name
    }
}
