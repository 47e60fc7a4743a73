// The C baseline for the port-I/O exit benchmark: the same KVM_RUN loop as the Swift side
// (VCPU.run() + parseExit + a switch on .ioOut), written directly against <linux/kvm.h>.
#ifndef CPIO_LOOP_H
#define CPIO_LOOP_H

#include <stddef.h>
#include <stdint.h>

/// Maps the kvm_run page of `vcpu_fd` (`map_size` = KVM_GET_VCPU_MMAP_SIZE). NULL on failure (errno set).
void *cpio_map_run(int vcpu_fd, size_t map_size);
void cpio_unmap_run(void *run, size_t map_size);

/// Runs the vCPU `exits` times. Each exit must be KVM_EXIT_IO, OUT, 4 bytes, count 1, port 0x530,
/// carrying `*expected`; `*expected` is incremented per exit (as the Swift loop does).
/// Returns 0, or a negative code: -errno from KVM_RUN, -1000 - reason for another exit reason,
/// -2000 for a malformed/other I/O exit, -3000 for a wrong value.
int cpio_run_exits(int vcpu_fd, void *run, size_t map_size, uint64_t exits, uint32_t *expected);

#endif
