// How the VMM asks a guest to shut down gracefully: the ACPI power button (what libvirt, and so
// KubeVirt, sends; systemd-logind, acpid and Windows power off on it) or Ctrl-Alt-Del on the i8042
// (Firecracker's SendCtrlAltDel; a busybox init powers off on it, but systemd reboots). `auto`
// takes the power button when the guest has ACPI and falls back to Ctrl-Alt-Del otherwise.
public enum GuestShutdownMethod: String, CaseIterable, Sendable {
    case auto
    case acpiPowerButton = "acpi-power-button"
    case ctrlAltDel = "ctrl-alt-del"
}

extension MicroVM {
    /// Sends the request; returns what was sent ("the ACPI power button", "Ctrl-Alt-Del") for the
    /// log, or nil when the chosen method is not available (no ACPI, or the keyboard buffer full).
    public func requestGuestShutdown(_ method: GuestShutdownMethod) -> String? {
        switch method {
        case .acpiPowerButton:
            return pressPowerButton() ? "the ACPI power button" : nil
        case .ctrlAltDel:
            return sendCtrlAltDel() ? "Ctrl-Alt-Del" : nil
        case .auto:
            return requestGuestShutdown(.acpiPowerButton) ?? requestGuestShutdown(.ctrlAltDel)
        }
    }
}
