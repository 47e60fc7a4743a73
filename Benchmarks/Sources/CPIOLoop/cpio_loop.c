// Does per exit what the Swift path does per exit, no more and no less:
//   KVM_RUN (ioctl, -errno on failure; EINTR/EAGAIN would be `.interrupted`),
//   read exit_reason, for KVM_EXIT_IO check size ∈ {1,2,4}, count ≥ 1, data_offset + size*count
//   within the mapping (overflow-checked), direction OUT, assemble the value byte by byte from
//   data_offset (little-endian, `size` bytes), then match port 0x530 / size 4 / count 1 / value.
// What the Swift side does beyond this (binding the kicker's thread under a mutex, building the enum)
// is exactly the overhead the benchmark exists to measure.
#include "cpio_loop.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

void *cpio_map_run(int vcpu_fd, size_t map_size) {
    void *p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

void cpio_unmap_run(void *run, size_t map_size) { munmap(run, map_size); }

int cpio_run_exits(int vcpu_fd, void *run_page, size_t map_size, uint64_t exits, uint32_t *expected) {
    struct kvm_run *run = run_page;
    uint32_t want = *expected;
    for (uint64_t n = 0; n < exits; n++) {
        if (ioctl(vcpu_fd, KVM_RUN, 0) < 0) {
            *expected = want;
            return -errno;
        }
        uint32_t reason = run->exit_reason;
        if (reason != KVM_EXIT_IO) {
            *expected = want;
            return -1000 - (int)reason;
        }
        uint8_t size = run->io.size;
        uint32_t count = run->io.count;
        uint64_t offset = run->io.data_offset;
        uint64_t total = (uint64_t)size * count;
        if ((size != 1 && size != 2 && size != 4) || count < 1 || offset + total < offset ||
            offset + total > map_size || run->io.direction != KVM_EXIT_IO_OUT) {
            *expected = want;
            return -2000;
        }
        const uint8_t *data = (const uint8_t *)run + offset;
        uint32_t value = 0;
        for (unsigned i = 0; i < size; i++) value |= (uint32_t)data[i] << (8 * i);
        if (run->io.port != 0x530 || size != 4 || count != 1) {
            *expected = want;
            return -2000;
        }
        if (value != want) {
            *expected = want;
            return -3000;
        }
        want++;
    }
    *expected = want;
    return 0;
}
