import Foundation
import Testing
import TestSupport

/// A short run of `scripts/fault-campaign` (the full one kills 20 workers and 10 coordinators;
/// docs/operations.md, "Failure handling"): workers and coordinators SIGKILLed at random
/// moments of real cluster merges, each coordinator kill finished with `--resume`.
@Suite(.serialized) struct FaultCampaignTests {
    static let hasPython = (try? ProcessRunner.run("/usr/bin/env", ["python3", "--version"]).status) == 0

    @Test("fault campaign, bounded: 4 worker kills, 3 coordinator kills (one in the final phase), every output byte-identical",
          .enabled(if: hasPython, "python3 is not installed (scripts/bootstrap installs it)"))
    func boundedCampaign() throws {
        let result = try Python.run([Fixtures.repository + "/scripts/fault-campaign", "--seed", "20261204", "--worker-kills", "4",
                                     "--coordinator-kills", "3", "--workers", "2", "--crucible", CrucibleBinary.path], timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("fault-campaign: 7 passed, 0 failed"), "\(result.output)")
    }
}
