// CKVM shims for Linux system calls Swift's Glibc module does not import: getrandom(2)
// (<sys/random.h> is not in the module), fallocate(2) and memfd_create(2) (declared only under
// _GNU_SOURCE). Direct
// calls, so they work in a fully static executable, where looking symbols up with dlsym does not.
// One call each, no logic; results are a count (or 0) or -errno.
#ifndef CKVM_SYS_H
#define CKVM_SYS_H

#include <stddef.h>
#include <stdint.h>

// getrandom(buffer, length, 0) from the urandom pool: the byte count or -errno.
long ckvm_sys_getrandom(void *buffer, size_t length);
// fallocate(fd, mode, offset, length): 0 or -errno.
int ckvm_sys_fallocate(int fd, int mode, int64_t offset, int64_t length);
// memfd_create(name, flags) (MFD_* bits): the new fd or -errno.
int ckvm_sys_memfd_create(const char *name, unsigned int flags);

#endif
