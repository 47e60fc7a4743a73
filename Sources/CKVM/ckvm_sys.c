// Implementation of the system-call shims: see include/ckvm_sys.h. No logic lives here.
#define _GNU_SOURCE
#include "ckvm_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>

long ckvm_sys_getrandom(void *buffer, size_t length) {
    ssize_t n = getrandom(buffer, length, 0);
    return n < 0 ? -errno : n;
}

int ckvm_sys_fallocate(int fd, int mode, int64_t offset, int64_t length) {
    return fallocate(fd, mode, (off_t)offset, (off_t)length) < 0 ? -errno : 0;
}

int ckvm_sys_memfd_create(const char *name, unsigned int flags) {
    int fd = memfd_create(name, flags);
    return fd < 0 ? -errno : fd;
}
