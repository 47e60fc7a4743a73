// The `vmm` binary: argument parsing and @main only; everything else is in Machine.
import ArgumentParser

@main
struct VMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmm",
        abstract: "A KVM virtual machine monitor written in Swift.",
        subcommands: [RunCommand.self]
    )
}
