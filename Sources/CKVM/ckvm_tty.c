// Implementation of the terminal shims: see include/ckvm_tty.h. No logic lives here.
#define _GNU_SOURCE
#include "ckvm_tty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>

int ckvm_tty_openpt(void) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ckvm_tty_grantpt(int fd) { return grantpt(fd) < 0 ? -errno : 0; }

int ckvm_tty_unlockpt(int fd) { return unlockpt(fd) < 0 ? -errno : 0; }

int ckvm_tty_ptsname(int fd, char *buffer, size_t length) {
    int r = ptsname_r(fd, buffer, length);
    return r == 0 ? 0 : -r;
}

int ckvm_tty_window_size(int fd, unsigned short *columns, unsigned short *rows) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return -errno;
    *columns = ws.ws_col;
    *rows = ws.ws_row;
    return 0;
}
