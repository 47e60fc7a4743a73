// The virtio-console part of the test /init (included by init.c, which stays one static program with
// no fork/exec). Enabled by `swifttest_console=1` on the kernel command line: opens /dev/hvc0 (the
// virtio console's port 0), turns its echo off (so the host cannot mistake the tty's own echo for
// init's answer), writes a ready marker, reads one line the host sends, and answers it on hvc0 and
// on COM1, with the console size the tty got. The read waits at most 120 s so a lost line ends in a
// printed failure, not a hung boot.
#include <poll.h>
#include <termios.h>

static void console_checks(void) {
    if (access("/dev/hvc0", F_OK) != 0) mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    int fd = open("/dev/hvc0", O_RDWR | O_NOCTTY);
    if (fd < 0) { printf("SWIFT-VMM-HVC: cannot open /dev/hvc0\n"); fflush(stdout); return; }
    struct termios mode;
    if (tcgetattr(fd, &mode) == 0) {
        mode.c_lflag &= ~(ECHO | ECHONL);
        tcsetattr(fd, TCSANOW, &mode);
    }
    const char ready[] = "SWIFT-VMM-HVC-READY\n";
    write(fd, ready, sizeof ready - 1);
    char line[128] = {0};
    size_t used = 0;
    while (used < sizeof line - 1 && !memchr(line, '\n', used)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 120000) <= 0) break;
        ssize_t n = read(fd, line + used, sizeof line - 1 - used);
        if (n <= 0) break;
        used += (size_t)n;
    }
    char *newline = memchr(line, '\n', used);
    if (newline) *newline = 0;
    printf("SWIFT-VMM-HVC-GOT: %s\n", newline ? line : "(no line)");
    struct winsize size;   // what the host's config space said (VIRTIO_CONSOLE_F_SIZE)
    if (ioctl(fd, TIOCGWINSZ, &size) == 0) printf("SWIFT-VMM-HVC-SIZE: %ux%u\n", size.ws_col, size.ws_row);
    fflush(stdout);
    char answer[160];
    int length = snprintf(answer, sizeof answer, "SWIFT-VMM-HVC-ECHO: %s\n", newline ? line : "(no line)");
    write(fd, answer, (size_t)length);
    tcdrain(fd);
    close(fd);
}
