// The `vmm` binary: argument parsing and @main only; everything else is in Machine and PodIntegration.
import ArgumentParser
import Logging

@main
struct VMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmm",
        abstract: "A KVM virtual machine monitor written in Swift.",
        subcommands: [RunCommand.self, LaunchCommand.self]
    )

    /// Logs go to stderr: stdout carries the guest's serial console (and `--dry-run`'s JSON).
    static func main() {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        main(nil)
    }
}
