// Puts an interactive terminal into raw-ish mode while the guest owns it: keys go to the guest one at
// a time without local echo. ISIG stays on so Ctrl-C still stops the VMM (cleanly, via SIGINT).
// The saved settings are restored on every way out of `vmm run`.
import Glibc

final class TerminalMode {
    private let fd: Int32
    private var saved = termios()
    private var active = false

    init(fd: Int32) { self.fd = fd }

    func enterRaw() {
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return }
        var raw = saved
        raw.c_iflag &= ~tcflag_t(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON)
        raw.c_lflag &= ~tcflag_t(ECHO | ECHONL | ICANON | IEXTEN)
        raw.c_cflag |= tcflag_t(CS8)
        if tcsetattr(fd, TCSANOW, &raw) == 0 { active = true }
    }

    func restore() {
        guard active else { return }
        _ = tcsetattr(fd, TCSANOW, &saved)
        active = false
    }

    deinit { restore() }
}
