import ArgumentParser

@main
struct Tools: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crucible-tools",
        abstract: "Developer tools for Crucible: synthetic checkpoints and micro-benchmarks.",
        subcommands: [Synthesize.self, BenchConvert.self, BenchRandom.self, BenchWire.self]
    )
}
