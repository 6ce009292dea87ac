import Foundation
import Testing
import TestSupport

/// Renders one SVG with librsvg (`rsvg-convert`) and with headless Chromium, and compares the two
/// PNGs coarsely with `Support/compare_renders.py` (same size, ink bounding boxes, ink per cell).
enum RenderComparison {
    static let script = Fixtures.repository + "/Tests/SweepEngineTests/Support/compare_renders.py"

    /// What the comparison found: whether the renderings are alike, and the script's report.
    struct Outcome {
        let alike: Bool
        let report: String
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `name`'s path on PATH; a missing renderer is an error that says how to install it.
    static func tool(_ name: String) throws -> String {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard let path = directories.map({ "\($0)/\(name)" }).first(where: FileManager.default.isExecutableFile) else {
            throw Failure(description: "\(name) is not on PATH: run scripts/bootstrap (it installs librsvg2-bin and chromium)")
        }
        return path
    }

    /// Renders `svg` with librsvg and `browserSVG` (by default the same document) with Chromium,
    /// at the size `svg`'s width and height attributes give, and compares the two.
    static func compare(_ svg: String, browserSVG: String? = nil) throws -> Outcome {
        let rsvg = try tool("rsvg-convert"), chromium = try tool("chromium")
        guard let python = Python.executable(importing: ["numpy"]) else {
            throw Failure(description: "no python3 with numpy: run scripts/bootstrap")
        }
        let (width, height) = try size(svg)
        let folder = TemporaryFolder.make("render")
        let forLibrsvg = folder + "/librsvg.svg", forBrowser = folder + "/browser.svg"
        try svg.write(toFile: forLibrsvg, atomically: true, encoding: .utf8)
        try (browserSVG ?? svg).write(toFile: forBrowser, atomically: true, encoding: .utf8)

        let drawn = try ProcessRunner.run(rsvg, ["-o", folder + "/librsvg.png", forLibrsvg], mergeErrors: true, timeout: 120)
        guard drawn.status == 0 else { throw Failure(description: "rsvg-convert failed (\(String(describing: drawn.status))): \(drawn.stdout)") }
        let shot = try ProcessRunner.run(chromium, [
            "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--force-device-scale-factor=1",
            "--user-data-dir=\(folder)/chromium-profile", "--screenshot=\(folder)/chromium.png",
            "--window-size=\(width),\(height)", URL(fileURLWithPath: forBrowser).absoluteString,
        ], mergeErrors: true, timeout: 180)
        guard shot.status == 0, FileManager.default.fileExists(atPath: folder + "/chromium.png") else {
            throw Failure(description: "chromium --screenshot failed (\(String(describing: shot.status))): \(shot.stdout.suffix(2000))")
        }
        let compared = try ProcessRunner.run(python, [script, folder + "/librsvg.png", folder + "/chromium.png"], mergeErrors: true, timeout: 180)
        guard compared.status == 0 || compared.status == 1 else {
            throw Failure(description: "compare_renders.py failed (\(String(describing: compared.status))): \(compared.stdout)")
        }
        return Outcome(alike: compared.status == 0, report: "\(folder): " + compared.stdout)
    }

    /// The root element's width and height attributes, in pixels.
    static func size(_ svg: String) throws -> (Int, Int) {
        func attribute(_ name: String) -> Int? {
            guard let range = svg.range(of: " \(name)=\"") else { return nil }
            return Int(svg[range.upperBound...].prefix { $0.isNumber })
        }
        guard let width = attribute("width"), let height = attribute("height") else {
            throw Failure(description: "the SVG has no width and height in pixels")
        }
        return (width, height)
    }
}
