import Foundation

/// Where the tests find the repository and the shared fixtures (`../shared` next to it).
public enum Fixtures {
    /// The repository's root folder (this file is `Tests/TestSupport/Fixtures.swift`).
    public static let repository: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// `../shared`, the fixtures kept outside the repository.
    public static let shared: String = URL(fileURLWithPath: repository).deletingLastPathComponent()
        .appendingPathComponent("shared").path

    /// `../shared/fixtures/mergekit-golden`: the golden merge cases; their configs' model paths
    /// are relative to it.
    public static let golden = shared + "/fixtures/mergekit-golden"

    /// `../shared/fixtures/mergekit-golden/models`: F32 tiny Llamas base, ft0/ft1 (dense
    /// N(0, 0.01²) deltas) and ft2 (sparse large deltas).
    public static let goldenModels = golden + "/models"

    /// `examples/models`: the bundled BF16 base and ft1..ft3.
    public static let examples = repository + "/examples/models"
}
