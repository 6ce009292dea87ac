import ArgumentParser

@main
struct Tools: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crucible-tools", abstract: "Developer tools.")
}
