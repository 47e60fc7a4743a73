// virtio_blk_bench: a CPL3 virtio-blk driver that keeps the device busy, for the guest-driven
// throughput benchmark (Benchmarks/Sources/virtio-guest-bench). It runs natively even on hosts that
// interpret guest kernel code, so the figures are the VMM's (event loop, backend) and not a guest
// kernel's. No interrupts: the driver polls the used ring and sets VIRTQ_AVAIL_F_NO_INTERRUPT.
// Phases, each bracketed by a write of its number to port 0x530 (start) and 0x531 (end), which the
// host timestamps:
//   1  4 KiB random reads, 32 in flight, 20000 requests over the whole disk
//   2  64 KiB sequential writes, 16 in flight, the whole disk (at most 64 MiB) once
// Load: static ELF64 (virtio_blk_bench.elf), FlatX86Setup `.long64`, at least 64 MiB of RAM, a
// virtio-blk disk of at least 1 MiB as the first virtio-mmio device.
// Exit: debug-exit 0x10 on success, 0x20 + phase on a failed request or a stall.
#include "virtio_guest.h"

#define DESC ((volatile struct desc *)0x400000)
#define AVAIL ((volatile struct avail *)0x401000)
#define USED ((volatile struct used *)0x402000)
#define HEADERS 0x404000UL   // 16 bytes per slot
#define STATUSES 0x405000UL  // 1 byte per slot
#define BUFFERS 0x1000000UL  // 64 KiB per slot
#define QUEUE 256
#define WAIT_TICKS 20000000000UL

struct phase { u32 type; u32 length; u32 depth; u32 count; int random; };

static u64 capacity_sectors;
static u64 lcg = 0x9E3779B97F4A7C15UL;

static u64 next_sector(const struct phase *p, u32 n) {
    u64 per = p->length / 512;
    u64 slots = capacity_sectors / per;
    if (!p->random) return (n % slots) * per;
    lcg = lcg * 6364136223846793005UL + 1442695040888963407UL;
    return ((lcg >> 33) % slots) * per;
}

static void submit(const struct phase *p, u16 slot, u32 n) {
    volatile u32 *h = (volatile u32 *)(HEADERS + 16 * slot);
    u64 sector = next_sector(p, n);
    h[0] = p->type; h[1] = 0; h[2] = (u32)sector; h[3] = (u32)(sector >> 32);
    ((volatile u8 *)STATUSES)[slot] = 0xff;
    u16 d = (u16)(3 * slot);
    DESC[d] = (struct desc){ HEADERS + 16 * slot, 16, F_NEXT, (u16)(d + 1) };
    DESC[d + 1] = (struct desc){ BUFFERS + 65536UL * slot, p->length, (u16)(F_NEXT | (p->type == 0 ? F_WRITE : 0)), (u16)(d + 2) };
    DESC[d + 2] = (struct desc){ STATUSES + slot, 1, F_WRITE, 0 };
    AVAIL->ring[AVAIL->idx % QUEUE] = d;
    __asm__ volatile("" ::: "memory");
    AVAIL->idx = AVAIL->idx + 1;
}

// Keeps `depth` requests in flight until `count` have completed; kicks once per batch of new ones.
static int run_phase(const struct phase *p) {
    u32 submitted = 0, completed = 0;
    u16 seen = USED->idx;
    while (submitted < p->depth && submitted < p->count) { submit(p, (u16)submitted, submitted); submitted++; }
    REG(BLK, QNOTIFY) = 0;
    u64 start = rdtsc();
    while (completed < p->count) {
        u16 now = USED->idx;
        if (now == seen) {
            if (rdtsc() - start > WAIT_TICKS) return 0;
            continue;
        }
        u32 fresh = 0;
        while (seen != now) {
            u16 head = (u16)USED->ring[seen % QUEUE].id;
            u16 slot = head / 3;
            if (((volatile u8 *)STATUSES)[slot] != 0) return 0;
            seen++;
            completed++;
            if (submitted < p->count) { submit(p, slot, submitted); submitted++; fresh++; }
        }
        if (fresh) REG(BLK, QNOTIFY) = 0;
        start = rdtsc();
    }
    return 1;
}

int guest_main(void) {
    if (REG(BLK, MAGIC) != 0x74726976 || REG(BLK, DEVICE_ID) != 2) { puts("no virtio-blk at 0xD0000000\n"); return 0x20; }
    zero(DESC, 4096); zero(AVAIL, 4096); zero(USED, 4096);
    if (!start(BLK, FEAT_VERSION_1)) { puts("FEATURES_OK refused\n"); return 0x20; }
    capacity_sectors = REG(BLK, CONFIG) | (u64)REG(BLK, CONFIG + 4) << 32;
    if (capacity_sectors < 2048) { puts("disk smaller than 1 MiB\n"); return 0x20; }
    if (capacity_sectors > 131072) capacity_sectors = 131072;   // 64 MiB are enough
    queue(BLK, 0, QUEUE, (u64)DESC, (u64)AVAIL, (u64)USED);
    AVAIL->flags = 1;   // VIRTQ_AVAIL_F_NO_INTERRUPT: this driver polls
    go(BLK);
    struct phase phases[2] = {
        { 0, 4096, 32, 20000, 1 },
        { 1, 65536, 16, (u32)(capacity_sectors / 128), 0 },
    };
    for (int i = 0; i < 2; i++) {
        outb(0x530, (u8)(i + 1));
        int ok = run_phase(&phases[i]);
        outb(0x531, (u8)(i + 1));
        if (!ok) { puts("request failed or stalled\n"); return 0x21 + i; }
    }
    puts("done\n");
    return 0x10;
}
