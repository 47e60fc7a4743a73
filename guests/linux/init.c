// The smallest /init for Linux boot tests: print a marker the host looks for, then reboot (with
// `reboot=k` the kernel resets through the i8042, which ends the VM). One program, no fork/exec:
// each exec costs about a second on hosts where guest kernel code is interpreted.
#include <stdio.h>
#include <sys/reboot.h>
#include <unistd.h>
#include <fcntl.h>
int main(void) {
    int fd = open("/dev/console", O_WRONLY);
    if (fd >= 0) { dup2(fd, 1); }
    printf("SWIFT-VMM-INIT-OK pid=%d\n", getpid());
    fflush(stdout);
    reboot(RB_AUTOBOOT);
    for (;;) pause();
}
