// Shared by the CPL3 virtio-mmio guest drivers (hostile_virtio.c, virtio_blk_bench.c): register
// offsets, status and descriptor bits, the split-ring layouts, port output and the TSC. Freestanding:
// no libc, no SSE (the guests never set up the FPU).
#ifndef VIRTIO_GUEST_H
#define VIRTIO_GUEST_H
typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define BLK 0xD0000000UL
#define RNG 0xD0001000UL
#define REG(base, off) (*(volatile u32 *)((base) + (off)))

enum {
    MAGIC = 0x00, VERSION = 0x04, DEVICE_ID = 0x08, DEV_FEAT = 0x10, DEV_FEAT_SEL = 0x14,
    DRV_FEAT = 0x20, DRV_FEAT_SEL = 0x24, QSEL = 0x30, QNUM_MAX = 0x34, QNUM = 0x38, QREADY = 0x44,
    QNOTIFY = 0x50, ISR = 0x60, IACK = 0x64, STATUS = 0x70, QDESC_LO = 0x80, QDESC_HI = 0x84,
    QDRV_LO = 0x90, QDRV_HI = 0x94, QDEV_LO = 0xa0, QDEV_HI = 0xa4, CONFIG = 0x100,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8, S_NEEDS_RESET = 0x40 };
enum { F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4 };
#define FEAT_INDIRECT (1UL << 28)
#define FEAT_VERSION_1 (1UL << 32)

struct desc { u64 addr; u32 len; u16 flags; u16 next; };
struct avail { u16 flags; u16 idx; u16 ring[256]; };
struct used_elem { u32 id; u32 len; };
struct used { u16 flags; u16 idx; struct used_elem ring[256]; };

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u64 rdtsc(void) {
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}
static void puts(const char *s) { while (*s) outb(0x3f8, (u8)*s++); }
static void zero(volatile void *p, u64 n) { volatile u8 *b = p; for (u64 i = 0; i < n; i++) b[i] = 0; }

static const char *why;  // set by the check that failed

// Reset, ACKNOWLEDGE, DRIVER, features (what the device offers of `want`), FEATURES_OK.
static int start(u64 base, u64 want) {
    REG(base, STATUS) = 0;
    if (REG(base, STATUS) != 0) { why = "status not 0 after reset"; return 0; }
    REG(base, STATUS) = S_ACK;
    REG(base, STATUS) = S_ACK | S_DRIVER;
    REG(base, DEV_FEAT_SEL) = 0;
    u64 offered = REG(base, DEV_FEAT);
    REG(base, DEV_FEAT_SEL) = 1;
    offered |= (u64)REG(base, DEV_FEAT) << 32;
    u64 accepted = offered & want;
    REG(base, DRV_FEAT_SEL) = 0;
    REG(base, DRV_FEAT) = (u32)accepted;
    REG(base, DRV_FEAT_SEL) = 1;
    REG(base, DRV_FEAT) = (u32)(accepted >> 32);
    REG(base, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK;
    if (!(REG(base, STATUS) & S_FEATURES_OK)) { why = "FEATURES_OK refused"; return 0; }
    return 1;
}

static void queue(u64 base, u32 index, u32 size, u64 desc, u64 avail, u64 used) {
    REG(base, QSEL) = index;
    REG(base, QNUM) = size;
    REG(base, QDESC_LO) = (u32)desc;
    REG(base, QDESC_HI) = (u32)(desc >> 32);
    REG(base, QDRV_LO) = (u32)avail;
    REG(base, QDRV_HI) = (u32)(avail >> 32);
    REG(base, QDEV_LO) = (u32)used;
    REG(base, QDEV_HI) = (u32)(used >> 32);
    REG(base, QREADY) = 1;
}

static void go(u64 base) { REG(base, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK; }

#endif
