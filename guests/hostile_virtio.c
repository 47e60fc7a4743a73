// hostile_virtio: a virtio-mmio driver that does what no Linux driver would. It runs at CPL3 (native
// speed on hosts that interpret guest kernel code), polls instead of taking interrupts, and drives
// the machine's first two virtio-mmio windows:
//   0xD0000000  virtio-blk whose sector 0 starts with "HOSTILE-DISK-MARKER"
//   0xD0001000  virtio-rng
// The rng queue is set up once and must keep serving between the hostile scenarios, which all run
// against the blk device: malformed rings and chains (each must set DEVICE_NEEDS_RESET and raise
// the configuration interrupt, without the VMM going down), register sequences out of order (each
// must be refused or ignored), and after every scenario a reset and a good read that must work.
// Load: static ELF64 (hostile_virtio.elf), FlatX86Setup `.long64`, at least 64 MiB of RAM.
// Output: one COM1 line per scenario ("ok <name>" or "FAIL <name>: <why>"), then "done".
// Exit: debug-exit 0x10 when every scenario passed, else 0x20 + the number of the first failure.
#include "virtio_guest.h"

// Guest-physical = virtual (identity map). Everything lives above the program at 1 MiB.
#define DESC ((volatile struct desc *)0x400000)
#define AVAIL ((volatile struct avail *)0x401000)
#define USED ((volatile struct used *)0x402000)
#define HDR ((volatile u8 *)0x404000)
#define DATA ((volatile u8 *)0x405000)
#define STATUSB ((volatile u8 *)0x406000)
#define INDIRECT ((volatile struct desc *)0x407000)
#define RNG_DESC ((volatile struct desc *)0x410000)
#define RNG_AVAIL ((volatile struct avail *)0x411000)
#define RNG_USED ((volatile struct used *)0x412000)
#define RNG_BUF ((volatile u8 *)0x413000)
#define BIG_BUFFER 0x1000000UL  // 32 MiB of RAM the length-overflow chain points at

// A bound on every wait: the device works on the VMM's event-loop thread, so a kick is answered
// asynchronously; several seconds of TSC ticks is far more than it needs and still ends a hang.
#define WAIT_TICKS 20000000000UL

static int wait_used(volatile struct used *used, u16 idx) {
    u64 start = rdtsc();
    while (used->idx != idx) if (rdtsc() - start > WAIT_TICKS) { why = "no used buffer"; return 0; }
    return 1;
}

static int wait_needs_reset(u64 base) {
    u64 start = rdtsc();
    while (!(REG(base, STATUS) & S_NEEDS_RESET))
        if (rdtsc() - start > WAIT_TICKS) { why = "DEVICE_NEEDS_RESET never set"; return 0; }
    if (!(REG(base, ISR) & 2)) { why = "no configuration interrupt with DEVICE_NEEDS_RESET"; return 0; }
    REG(base, IACK) = 2;
    return 1;
}

// Reset first: zeroing the rings of a live device would be one more hostile act (a kick still
// queued on the event loop would see the avail index go backwards).
static void clear_blk_rings(void) {
    REG(BLK, STATUS) = 0;
    zero(DESC, 4096); zero(AVAIL, 4096); zero(USED, 4096); zero(INDIRECT, 4096);
}

// A live blk device with an 8-entry queue and clean rings.
static int blk_live(u64 want) {
    clear_blk_rings();
    if (!start(BLK, want)) return 0;
    queue(BLK, 0, 8, (u64)DESC, (u64)AVAIL, (u64)USED);
    go(BLK);
    if (REG(BLK, STATUS) != (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)) { why = "not live after DRIVER_OK"; return 0; }
    return 1;
}

static void blk_read_request(void) {
    volatile u32 *h = (volatile u32 *)HDR;
    h[0] = 0; h[1] = 0; h[2] = 0; h[3] = 0;  // VIRTIO_BLK_T_IN, sector 0
    zero(DATA, 512);
    STATUSB[0] = 0xff;
    DESC[0] = (struct desc){ (u64)HDR, 16, F_NEXT, 1 };
    DESC[1] = (struct desc){ (u64)DATA, 512, F_WRITE | F_NEXT, 2 };
    DESC[2] = (struct desc){ (u64)STATUSB, 1, F_WRITE, 0 };
}

static void publish(volatile struct avail *avail, u16 head, u16 size) {
    avail->ring[avail->idx % size] = head;
    __asm__ volatile("" ::: "memory");  // x86 keeps stores in order; stop the compiler reordering
    avail->idx = avail->idx + 1;
}

// A full, correct read of sector 0 after a reset: the device must have recovered.
static int blk_good_read(void) {
    if (!blk_live(FEAT_VERSION_1 | FEAT_INDIRECT)) return 0;
    blk_read_request();
    publish(AVAIL, 0, 8);
    REG(BLK, QNOTIFY) = 0;
    if (!wait_used(USED, 1)) return 0;
    if (STATUSB[0] != 0) { why = "blk status not OK"; return 0; }
    const char *marker = "HOSTILE-DISK-MARKER";
    for (int i = 0; marker[i]; i++) if (DATA[i] != (u8)marker[i]) { why = "wrong data from sector 0"; return 0; }
    if (USED->ring[0].id != 0 || USED->ring[0].len != 513) { why = "wrong used element"; return 0; }
    return 1;
}

static u16 rng_used_seen;

static int rng_setup(void) {
    zero(RNG_DESC, 4096); zero(RNG_AVAIL, 4096); zero(RNG_USED, 4096);
    rng_used_seen = 0;
    if (!start(RNG, FEAT_VERSION_1)) return 0;
    queue(RNG, 0, 4, (u64)RNG_DESC, (u64)RNG_AVAIL, (u64)RNG_USED);
    go(RNG);
    return 1;
}

// The other device goes on working while blk needs a reset.
static int rng_works(void) {
    zero(RNG_BUF, 64);
    RNG_DESC[0] = (struct desc){ (u64)RNG_BUF, 64, F_WRITE, 0 };
    publish(RNG_AVAIL, 0, 4);
    REG(RNG, QNOTIFY) = 0;
    if (!wait_used(RNG_USED, ++rng_used_seen)) { why = "rng stopped serving"; return 0; }
    u8 any = 0;
    for (int i = 0; i < 64; i++) any |= RNG_BUF[i];
    if (RNG_USED->ring[(u16)(rng_used_seen - 1) % 4].len != 64 || !any) { why = "rng returned no entropy"; return 0; }
    return 1;
}

// Kick the blk queue with what the scenario put in the rings; DEVICE_NEEDS_RESET must follow.
static int kick_expect_reset(void) {
    REG(BLK, QNOTIFY) = 0;
    return wait_needs_reset(BLK);
}

static int head_out_of_range(void) {
    if (!blk_live(FEAT_VERSION_1)) return 0;
    blk_read_request();
    publish(AVAIL, 200, 8);
    return kick_expect_reset();
}

static int next_out_of_range(void) {
    if (!blk_live(FEAT_VERSION_1)) return 0;
    blk_read_request();
    DESC[1].next = 99;
    publish(AVAIL, 0, 8);
    return kick_expect_reset();
}

static int chain_loop(void) {
    if (!blk_live(FEAT_VERSION_1)) return 0;
    DESC[0] = (struct desc){ (u64)HDR, 16, F_NEXT, 1 };
    DESC[1] = (struct desc){ (u64)HDR, 16, F_NEXT, 0 };
    publish(AVAIL, 0, 8);
    return kick_expect_reset();
}

static int avail_index_ahead(void) {
    if (!blk_live(FEAT_VERSION_1)) return 0;
    blk_read_request();
    AVAIL->idx = 100;  // 100 new entries in an 8-entry ring
    return kick_expect_reset();
}

// Queue setups the device must refuse at DRIVER_OK (synchronously, before any kick).
static int bad_queue(u32 size, u64 desc, u64 avail, u64 used) {
    clear_blk_rings();
    if (!start(BLK, FEAT_VERSION_1)) return 0;
    queue(BLK, 0, size, desc, avail, used);
    go(BLK);
    return wait_needs_reset(BLK);
}
static int size_not_power_of_two(void) { return bad_queue(6, (u64)DESC, (u64)AVAIL, (u64)USED); }
static int size_too_large(void) { return bad_queue(0x10000, (u64)DESC, (u64)AVAIL, (u64)USED); }
static int ring_outside_ram(void) { return bad_queue(8, 0x700000000UL, (u64)AVAIL, (u64)USED); }
static int ring_wraps_address_space(void) { return bad_queue(8, (u64)DESC, (u64)AVAIL, 0xFFFFFFFFFFFFFFFCUL); }
static int ring_misaligned(void) { return bad_queue(8, (u64)DESC + 8, (u64)AVAIL, (u64)USED); }

static int nested_indirect(void) {
    if (!blk_live(FEAT_VERSION_1 | FEAT_INDIRECT)) return 0;
    INDIRECT[0] = (struct desc){ (u64)INDIRECT + 64, 32, F_INDIRECT, 0 };
    DESC[0] = (struct desc){ (u64)INDIRECT, 16, F_INDIRECT, 0 };
    publish(AVAIL, 0, 8);
    return kick_expect_reset();
}

static int indirect_bad_length(void) {
    if (!blk_live(FEAT_VERSION_1 | FEAT_INDIRECT)) return 0;
    DESC[0] = (struct desc){ (u64)INDIRECT, 17, F_INDIRECT, 0 };
    publish(AVAIL, 0, 8);
    return kick_expect_reset();
}

static int indirect_with_next(void) {
    if (!blk_live(FEAT_VERSION_1 | FEAT_INDIRECT)) return 0;
    INDIRECT[0] = (struct desc){ (u64)HDR, 16, 0, 0 };
    DESC[0] = (struct desc){ (u64)INDIRECT, 16, F_INDIRECT | F_NEXT, 1 };
    DESC[1] = (struct desc){ (u64)STATUSB, 1, F_WRITE, 0 };
    publish(AVAIL, 0, 8);
    return kick_expect_reset();
}

static int indirect_not_negotiated(void) {
    if (!blk_live(FEAT_VERSION_1)) return 0;  // INDIRECT_DESC left out
    INDIRECT[0] = (struct desc){ (u64)HDR, 16, 0, 0 };
    DESC[0] = (struct desc){ (u64)INDIRECT, 16, F_INDIRECT, 0 };
    publish(AVAIL, 0, 8);
    return kick_expect_reset();
}

static int buffer_outside_ram(void) {
    if (!blk_live(FEAT_VERSION_1)) return 0;
    blk_read_request();
    DESC[1].addr = 0xFFFFFFFFFFFFF000UL;
    publish(AVAIL, 0, 8);
    return kick_expect_reset();
}

// 128 writable descriptors of 32 MiB each (all inside RAM): 4 GiB, past the 32-bit used length.
static int total_length_overflow(void) {
    clear_blk_rings();
    if (!start(BLK, FEAT_VERSION_1 | FEAT_INDIRECT)) return 0;
    queue(BLK, 0, 256, (u64)DESC, (u64)AVAIL, (u64)USED);
    go(BLK);
    volatile u32 *h = (volatile u32 *)HDR;
    h[0] = 0; h[1] = 0; h[2] = 0; h[3] = 0;
    DESC[0] = (struct desc){ (u64)HDR, 16, F_NEXT, 1 };
    for (u16 i = 1; i <= 128; i++) DESC[i] = (struct desc){ BIG_BUFFER, 32u << 20, F_WRITE | F_NEXT, (u16)(i + 1) };
    DESC[129] = (struct desc){ (u64)STATUSB, 1, F_WRITE, 0 };
    publish(AVAIL, 0, 256);
    return kick_expect_reset();
}

static int readable_after_writable(void) {
    if (!blk_live(FEAT_VERSION_1)) return 0;
    blk_read_request();
    DESC[1].flags = F_NEXT;            // data now device-readable...
    DESC[0].flags = F_WRITE | F_NEXT;  // ...after a device-writable header
    publish(AVAIL, 0, 8);
    return kick_expect_reset();
}

static int notify_unknown_queue(void) {
    if (!blk_live(FEAT_VERSION_1)) return 0;
    REG(BLK, QNOTIFY) = 5;
    return wait_needs_reset(BLK);
}

// Register sequences a driver must not use: each is ignored or refused, none breaks the device.
static int register_abuse(void) {
    REG(BLK, STATUS) = 0;
    if (*(volatile u8 *)(BLK + MAGIC) != 0 || *(volatile u16 *)(BLK + VERSION) != 0) { why = "narrow register read answered"; return 0; }
    REG(BLK, MAGIC) = 0xdeadbeef;
    REG(BLK, VERSION) = 7;
    REG(BLK, DEVICE_ID) = 9;
    if (REG(BLK, MAGIC) != 0x74726976 || REG(BLK, VERSION) != 2 || REG(BLK, DEVICE_ID) != 2) { why = "read-only register changed"; return 0; }
    if (REG(BLK, 0xffc) != 0 || REG(BLK, 0x0fe) != 0) { why = "read past config / misaligned answered"; return 0; }
    REG(BLK, 0xffc) = 0xffffffff;      // config write far past the config space
    REG(BLK, CONFIG + 0x3) = 0x12345678;  // misaligned config write
    // Out-of-order status: DRIVER_OK with nothing negotiated, FEATURES_OK before DRIVER.
    REG(BLK, STATUS) = S_ACK | S_DRIVER_OK;
    if (REG(BLK, STATUS) != S_ACK) { why = "DRIVER_OK accepted without FEATURES_OK"; return 0; }
    REG(BLK, STATUS) = S_ACK | S_FEATURES_OK;
    if (REG(BLK, STATUS) != S_ACK) { why = "FEATURES_OK accepted before DRIVER"; return 0; }
    // Features the device never offered, and a driver without VERSION_1: FEATURES_OK refused.
    REG(BLK, STATUS) = S_ACK | S_DRIVER;
    REG(BLK, DRV_FEAT_SEL) = 1;
    REG(BLK, DRV_FEAT) = 1u | (1u << 31);  // VERSION_1 and bit 63
    REG(BLK, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK;
    if (REG(BLK, STATUS) & S_FEATURES_OK) { why = "FEATURES_OK with an unoffered feature"; return 0; }
    REG(BLK, STATUS) = 0;
    REG(BLK, STATUS) = S_ACK | S_DRIVER;
    REG(BLK, DRV_FEAT_SEL) = 1;
    REG(BLK, DRV_FEAT) = 0;
    REG(BLK, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK;
    if (REG(BLK, STATUS) & S_FEATURES_OK) { why = "FEATURES_OK without VERSION_1"; return 0; }
    // Queues that do not exist, and queue registers changed after DRIVER_OK.
    REG(BLK, QSEL) = 0xffff;
    if (REG(BLK, QNUM_MAX) != 0) { why = "a queue past the last one has a size"; return 0; }
    REG(BLK, QNUM) = 8;
    REG(BLK, QREADY) = 1;
    if (!blk_live(FEAT_VERSION_1)) return 0;
    REG(BLK, QSEL) = 0;
    REG(BLK, QDESC_LO) = 0x12345678;
    REG(BLK, QNUM) = 3;
    REG(BLK, QREADY) = 0;
    if (REG(BLK, QREADY) != 1) { why = "QueueReady cleared while live"; return 0; }
    // The live queue must still use the rings it was given.
    blk_read_request();
    publish(AVAIL, 0, 8);
    REG(BLK, QNOTIFY) = 0;
    if (!wait_used(USED, 1)) return 0;
    if (STATUSB[0] != 0 || REG(BLK, STATUS) & S_NEEDS_RESET) { why = "request after ignored writes failed"; return 0; }
    return 1;
}

struct scenario { const char *name; int (*run)(void); };
static const struct scenario scenarios[] = {
    { "good-read", blk_good_read },
    { "head-out-of-range", head_out_of_range },
    { "next-out-of-range", next_out_of_range },
    { "chain-loop", chain_loop },
    { "avail-index-ahead", avail_index_ahead },
    { "size-not-power-of-two", size_not_power_of_two },
    { "size-too-large", size_too_large },
    { "ring-outside-ram", ring_outside_ram },
    { "ring-wraps-address-space", ring_wraps_address_space },
    { "ring-misaligned", ring_misaligned },
    { "nested-indirect", nested_indirect },
    { "indirect-bad-length", indirect_bad_length },
    { "indirect-with-next", indirect_with_next },
    { "indirect-not-negotiated", indirect_not_negotiated },
    { "buffer-outside-ram", buffer_outside_ram },
    { "total-length-overflow", total_length_overflow },
    { "readable-after-writable", readable_after_writable },
    { "notify-unknown-queue", notify_unknown_queue },
    { "register-abuse", register_abuse },
};

int guest_main(void) {
    if (REG(BLK, MAGIC) != 0x74726976 || REG(BLK, DEVICE_ID) != 2 || REG(RNG, DEVICE_ID) != 4) {
        puts("FAIL layout: expected virtio-blk at 0xD0000000 and virtio-rng at 0xD0001000\n");
        return 0x20;
    }
    if (!rng_setup() || !rng_works()) { puts("FAIL rng-setup: "); puts(why); puts("\n"); return 0x20; }
    int first_failure = 0;
    for (unsigned i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        why = "";
        int ok = scenarios[i].run();
        // Whatever the scenario did, blk must recover with a reset and the rng must keep serving.
        if (ok && !blk_good_read()) { ok = 0; }
        if (ok && !rng_works()) { ok = 0; }
        puts(ok ? "ok " : "FAIL ");
        puts(scenarios[i].name);
        if (!ok) { puts(": "); puts(why); if (!first_failure) first_failure = (int)i + 1; }
        puts("\n");
    }
    puts("done\n");
    return first_failure ? 0x20 + first_failure : 0x10;
}
