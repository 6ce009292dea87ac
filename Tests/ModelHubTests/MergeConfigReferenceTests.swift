import Foundation
import JobModel
import MergeEngine
import ModelHub
import Testing

/// Hub references in a mergekit config (`base_model:`, `models:`, `slices: sources: model:`)
/// reach the planner as `PlanOptions.resolveModel`, the hook the CLI installs.
@Suite struct MergeConfigReferenceTests {
    @Test func configModelsAreResolvedThroughTheHub() throws {
        let fixture = try HubFixture()
        let server = try HubServer(["org/base": fixture.repository(), "org/tuned": fixture.repository()])
        let environment = fixture.environment(server)
        let options = PlanOptions(resolveModel: { try ModelHub.hubSnapshot($0, environment: environment) })
        let configs = [
            """
            merge_method: task_arithmetic
            base_model: org/base
            models:
              - model: org/tuned@\(HubFixture.commit)
                parameters: {weight: 0.5}
            """,
            """
            merge_method: linear
            slices:
              - sources:
                  - model: org/base
                    layer_range: [0, 2]
                    parameters: {weight: 0.5}
                  - model: org/tuned
                    layer_range: [0, 2]
                    parameters: {weight: 0.5}
            """,
        ]
        for yaml in configs {
            let plan = try Planner.plan(ConfigParser.parse(yaml), options: options)
            #expect(plan.modelPaths.map { $0.split(separator: "@")[0] } == ["org/base", "org/tuned"])
            #expect(plan.checkpoints.map(\.directory) == ["org/base", "org/tuned"].map {
                fixture.repositoryFolder($0) + "/snapshots/" + HubFixture.commit
            })
            #expect(plan.layerCount == 2)
        }
    }

    @Test func hubErrorsAreConfigProblemsNamingTheModel() throws {
        let fixture = try HubFixture()
        let server = try HubServer([:])
        let environment = fixture.environment(server)
        let options = PlanOptions(resolveModel: { try ModelHub.hubSnapshot($0, environment: environment) })
        let yaml = "merge_method: linear\nmodels:\n  - model: org/missing\n    parameters: {weight: 1}\n"
        let error = #expect(throws: ProblemList.self) { try Planner.plan(ConfigParser.parse(yaml), options: options) }
        #expect(error?.description.contains("model org/missing: org/missing: no local folder of that name, and no repository org/missing") == true)
    }
}
