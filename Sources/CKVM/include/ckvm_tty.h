// CKVM terminal shims for the virtio console's host side: pseudo-terminal creation (posix_openpt,
// grantpt, unlockpt, ptsname_r are not in Swift's Glibc module) and the window size (TIOCGWINSZ
// goes through the variadic ioctl). One call each, no logic; results are 0 (or an fd) or -errno.
#ifndef CKVM_TTY_H
#define CKVM_TTY_H

#include <stddef.h>

// posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC). The main side's fd or -errno.
int ckvm_tty_openpt(void);
// grantpt(fd). 0 or -errno.
int ckvm_tty_grantpt(int fd);
// unlockpt(fd). 0 or -errno.
int ckvm_tty_unlockpt(int fd);
// ptsname_r(fd, buffer, length): the subordinate side's path. 0 or -errno.
int ckvm_tty_ptsname(int fd, char *buffer, size_t length);
// ioctl(fd, TIOCGWINSZ): the terminal's columns and rows. 0 or -errno.
int ckvm_tty_window_size(int fd, unsigned short *columns, unsigned short *rows);

#endif
