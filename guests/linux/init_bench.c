// The in-guest disk benchmark of the test /init (included by init.c). With `swifttest_bench=blk`:
// 16 MiB of sequential 64 KiB reads and 2000 random 4 KiB reads from /dev/vda, O_DIRECT (so the
// guest's page cache does not answer for the device), timed with CLOCK_MONOTONIC (kvm-clock).
// Prints `SWIFT-VMM-BENCH-SEQ: bytes=N us=T` and `SWIFT-VMM-BENCH-RAND: reads=N us=T`; the host
// harness (Benchmarks/boot/boottime.py --virtio) runs the same guest under vmm and QEMU microvm.
#include <time.h>

static long long bench_now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void bench_blk(void) {
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    int fd = open("/dev/vda", O_RDONLY | O_DIRECT);
    void *buf = NULL;
    if (fd < 0 || posix_memalign(&buf, 4096, 65536) != 0) { printf("SWIFT-VMM-BENCH: no /dev/vda\n"); return; }
    const long long total = 16 << 20;
    long long t0 = bench_now_us(), done = 0;
    while (done < total && pread(fd, buf, 65536, done) == 65536) done += 65536;
    printf("SWIFT-VMM-BENCH-SEQ: bytes=%lld us=%lld\n", done, bench_now_us() - t0);
    unsigned long long x = 88172645463325252ULL;
    int reads = 0;
    t0 = bench_now_us();
    for (; reads < 2000; reads++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        if (pread(fd, buf, 4096, (off_t)(x % (total / 4096)) * 4096) != 4096) break;
    }
    printf("SWIFT-VMM-BENCH-RAND: reads=%d us=%lld\n", reads, bench_now_us() - t0);
    fflush(stdout);
    close(fd);
}
