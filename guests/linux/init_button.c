// `swifttest_end=button` (included by init.c): wait for the ACPI power button, the graceful
// shutdown a systemd or acpid guest acts on. Linux's button driver (PNP0C0C, notified by the
// VMM's Generic Event Device) reports KEY_POWER on an evdev node; init finds the nodes that can
// send it, prints SWIFT-VMM-WAITING-FOR-POWER-BUTTON once it listens, and returns when a press
// arrives (SWIFT-VMM-GOT-POWER-BUTTON); the caller then powers off.
#include <linux/input.h>
#include <poll.h>

static int has_power_key(int fd) {
    unsigned char keys[KEY_MAX / 8 + 1] = {0};
    if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof keys), keys) < 0) return 0;
    return (keys[KEY_POWER / 8] >> (KEY_POWER % 8)) & 1;
}

static void wait_for_power_button(void) {
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    struct pollfd fds[16];
    int count = 0;
    for (int i = 0; i < 16; i++) {
        char path[32];
        snprintf(path, sizeof path, "/dev/input/event%d", i);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        char name[64] = {0};
        ioctl(fd, EVIOCGNAME(sizeof name - 1), name);
        if (!has_power_key(fd)) { close(fd); continue; }
        printf("SWIFT-VMM-POWER-KEY: %s (%s)\n", path, name);
        fds[count].fd = fd;
        fds[count].events = POLLIN;
        count++;
    }
    if (count == 0) { printf("SWIFT-VMM-NO-POWER-KEY\n"); return; }
    printf("SWIFT-VMM-WAITING-FOR-POWER-BUTTON\n");
    fflush(stdout);
    for (;;) {
        if (poll(fds, count, -1) <= 0) continue;
        for (int i = 0; i < count; i++) {
            struct input_event ev;
            if (!(fds[i].revents & POLLIN) || read(fds[i].fd, &ev, sizeof ev) != (ssize_t)sizeof ev) continue;
            if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1) {
                printf("SWIFT-VMM-GOT-POWER-BUTTON\n");
                fflush(stdout);
                return;
            }
        }
    }
}
