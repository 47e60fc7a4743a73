// The pod-launcher part of the test /init (included by init.c). Enabled by `swifttest_launch=1`:
// the disks `vmm launch` made from a VMI, in the VMI's order:
//   /dev/vda  the containerDisk: prints the host's marker, writes and fsyncs a block at 4096 (which
//             must land in the copy-on-write overlay, never in the base image)
//   /dev/vdb  the cloudInitNoCloud ISO: prints the ISO 9660 volume id (primary volume descriptor at
//             byte 32768, id at +40) and whether "user-data" appears in the first 64 KiB
//   /dev/vdc  the emptyDisk: prints its size in bytes
#include <linux/fs.h>

static void launch_checks(void) {
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    char block[512] = {0};
    int fd = open("/dev/vda", O_RDWR);
    if (fd >= 0 && pread(fd, block, sizeof block, 0) == (ssize_t)sizeof block) {
        block[63] = 0;
        printf("SWIFT-VMM-LAUNCH-VDA: %s\n", block);
        const char msg[] = "GUEST-WROTE-OVERLAY";
        int ok = pwrite(fd, msg, sizeof msg, 4096) == (ssize_t)sizeof msg && fsync(fd) == 0;
        printf("SWIFT-VMM-LAUNCH-VDA-WRITE: %s\n", ok ? "ok" : "failed");
    } else {
        printf("SWIFT-VMM-LAUNCH-VDA: failed\n");
    }
    if (fd >= 0) close(fd);
    static char iso[65536];
    fd = open("/dev/vdb", O_RDONLY);
    ssize_t got = fd >= 0 ? pread(fd, iso, sizeof iso, 0) : -1;   // a small ISO is under 64 KiB
    if (got >= 32768 + 2048) {
        char label[33] = {0};
        memcpy(label, iso + 32768 + 40, 32);
        for (int i = 31; i >= 0 && label[i] == ' '; i--) label[i] = 0;
        int named = 0;
        for (size_t i = 0; i + 9 <= (size_t)got; i++) if (memcmp(iso + i, "user-data", 9) == 0 || memcmp(iso + i, "USER_DATA", 9) == 0) { named = 1; break; }
        printf("SWIFT-VMM-LAUNCH-VDB: label=%s user-data=%s\n", label, named ? "yes" : "no");
    } else {
        printf("SWIFT-VMM-LAUNCH-VDB: failed\n");
    }
    if (fd >= 0) close(fd);
    fd = open("/dev/vdc", O_RDONLY);
    unsigned long long size = 0;
    if (fd >= 0 && ioctl(fd, BLKGETSIZE64, &size) == 0) printf("SWIFT-VMM-LAUNCH-VDC: %llu\n", size);
    else printf("SWIFT-VMM-LAUNCH-VDC: failed\n");
    if (fd >= 0) close(fd);
    fflush(stdout);
}
