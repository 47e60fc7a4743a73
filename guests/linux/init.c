// The smallest /init for Linux boot tests: one program, no fork/exec (each exec costs about a second
// on hosts where guest kernel code is interpreted). It mounts proc and sysfs, prints what the kernel
// saw as `SWIFT-VMM-...` lines the host checks, writes 123 to Firecracker's boot-time device
// (0xC0000000 through /dev/mem), then ends the VM: power-off through ACPI, or, when the kernel runs
// without ACPI (`swifttest_end=reboot` on its command line, passed to init's environment), a reboot
// that `reboot=k` turns into an i8042 reset. With `swifttest_end=cad` it first waits for
// Ctrl-Alt-Del (CAD disabled, so the kernel sends init SIGINT), the graceful-shutdown path; with
// `swifttest_end=button` it waits for the ACPI power button instead (init_button.c).
// With `swifttest_virtio=1` it also exercises the virtio devices: 16 bytes from /dev/hwrng, the
// marker the host put at the start of /dev/vda, a write at offset 4096 of /dev/vda (fsync'd), and a
// write to the read-only /dev/vdb that must be refused. When /dev/vdc exists it holds an ext4 file
// system made on the host: init mounts it, writes /hello.txt and fsyncs, runs FITRIM (the guest's
// discards must reach the image file as holes) and unmounts.
#define _GNU_SOURCE   // O_DIRECT (init_bench.c)
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/reboot.h>
#include <unistd.h>

static void print_file(const char *label, const char *path) {
    char buf[512] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("SWIFT-VMM-%s: (unreadable %s)\n", label, path); return; }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
    printf("SWIFT-VMM-%s: %s\n", label, n > 0 ? buf : "");
}

static void virtio_checks(void) {
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    unsigned char rnd[16];
    int fd = open("/dev/hwrng", O_RDONLY);
    if (fd >= 0 && read(fd, rnd, sizeof rnd) == (ssize_t)sizeof rnd) {
        printf("SWIFT-VMM-HWRNG: ");
        for (unsigned i = 0; i < sizeof rnd; i++) printf("%02x", rnd[i]);
        printf("\n");
    } else {
        printf("SWIFT-VMM-HWRNG: failed\n");
    }
    if (fd >= 0) close(fd);
    char block[512] = {0};
    fd = open("/dev/vda", O_RDWR);
    if (fd >= 0 && pread(fd, block, sizeof block, 0) == (ssize_t)sizeof block) {
        block[63] = 0;
        printf("SWIFT-VMM-VDA: %s\n", block);
        const char msg[] = "GUEST-WROTE-THIS";
        if (pwrite(fd, msg, sizeof msg, 4096) == (ssize_t)sizeof msg && fsync(fd) == 0) printf("SWIFT-VMM-VDA-WRITE: ok\n");
    } else {
        printf("SWIFT-VMM-VDA: failed\n");
    }
    if (fd >= 0) close(fd);
    fd = open("/dev/vdb", O_RDWR);
    if (fd < 0) fd = open("/dev/vdb", O_RDONLY);
    if (fd >= 0) {
        char x[512] = "X";
        ssize_t n = pwrite(fd, x, sizeof x, 0);
        int synced = n == (ssize_t)sizeof x ? fsync(fd) : -1;
        printf("SWIFT-VMM-VDB-WRITE: %s\n", (n < 0 || synced < 0) ? "refused" : "accepted");
        close(fd);
    }
    fflush(stdout);
}

static void ext4_checks(void) {
    if (access("/dev/vdc", F_OK) != 0) return;
    mkdir("/mnt", 0755);
    if (mount("/dev/vdc", "/mnt", "ext4", 0, NULL) != 0) { printf("SWIFT-VMM-EXT4: mount failed\n"); return; }
    printf("SWIFT-VMM-EXT4: mounted\n");
    int fd = open("/mnt/hello.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const char msg[] = "written by the guest through virtio-blk\n";
    if (fd >= 0 && write(fd, msg, sizeof msg - 1) == (ssize_t)sizeof msg - 1 && fsync(fd) == 0) printf("SWIFT-VMM-EXT4-WRITE: ok\n");
    if (fd >= 0) close(fd);
    struct fstrim_range range = { .start = 0, .len = (__u64)-1, .minlen = 0 };
    int mnt = open("/mnt", O_RDONLY | O_DIRECTORY);
    if (mnt >= 0 && ioctl(mnt, FITRIM, &range) == 0) printf("SWIFT-VMM-FITRIM: %llu\n", (unsigned long long)range.len);
    else printf("SWIFT-VMM-FITRIM: failed\n");
    if (mnt >= 0) close(mnt);
    printf("SWIFT-VMM-EXT4-UMOUNT: %s\n", umount("/mnt") == 0 ? "ok" : "failed");
    fflush(stdout);
}

#include "init_net.c"   // swifttest_net=1: eth0, ping and TCP both ways (kept apart: one concern per file)
#include "init_console.c"   // swifttest_console=1: a line each way over /dev/hvc0 (virtio console)
#include "init_launch.c"   // swifttest_launch=1: the disks `vmm launch` prepared from a VMI
#include "init_bench.c"   // swifttest_bench=blk: timed O_DIRECT reads from /dev/vda
#include "init_button.c"   // swifttest_end=button: wait for the ACPI power button

static volatile sig_atomic_t got_sigint;
static void on_sigint(int signo) { (void)signo; got_sigint = 1; }

int main(int argc, char **argv) {
    // Not pid 1 with an argument: udhcpc running /init as its lease script (init_dhcp.c).
    if (getpid() != 1 && argc > 1) return dhcp_hook(argv[1]);
    int fd = open("/dev/console", O_WRONLY);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
    printf("SWIFT-VMM-INIT-OK pid=%d\n", getpid());
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    print_file("CMDLINE", "/proc/cmdline");
    print_file("CPUS", "/sys/devices/system/cpu/online");
    print_file("CLOCKSOURCE", "/sys/devices/system/clocksource/clocksource0/current_clocksource");
    int mem = open("/dev/mem", O_RDWR | O_SYNC);
    if (mem >= 0) {
        volatile unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mem, 0xC0000000);
        if (p != MAP_FAILED) { p[0] = 123; munmap((void *)p, 4096); printf("SWIFT-VMM-BOOTTIME: written\n"); }
        close(mem);
    }
    fflush(stdout);
    const char *virtio = getenv("swifttest_virtio");
    if (virtio && strcmp(virtio, "1") == 0) { virtio_checks(); ext4_checks(); }
    const char *bench = getenv("swifttest_bench");
    if (bench && strcmp(bench, "blk") == 0) bench_blk();
    const char *launch = getenv("swifttest_launch");
    if (launch && strcmp(launch, "1") == 0) launch_checks();
    const char *net = getenv("swifttest_net");
    if (net && (strcmp(net, "1") == 0 || strcmp(net, "dhcp") == 0)) net_checks(strcmp(net, "dhcp") == 0);
    const char *hvc = getenv("swifttest_console");
    if (hvc && strcmp(hvc, "1") == 0) console_checks();
    const char *end = getenv("swifttest_end");
    if (end && strcmp(end, "cad") == 0) {
        signal(SIGINT, on_sigint);
        reboot(RB_DISABLE_CAD);          // Ctrl-Alt-Del now means SIGINT to init
        printf("SWIFT-VMM-WAITING-FOR-CAD\n");
        fflush(stdout);
        while (!got_sigint) pause();
        printf("SWIFT-VMM-GOT-SIGINT\n");
        fflush(stdout);
    }
    if (end && strcmp(end, "button") == 0) wait_for_power_button();
    sync();
    reboot(end && strcmp(end, "reboot") == 0 ? RB_AUTOBOOT : RB_POWER_OFF);
    for (;;) pause();
}
