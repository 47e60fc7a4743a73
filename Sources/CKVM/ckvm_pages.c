// See ckvm_pages.h for why; the /proc formats are proc(5)'s.
#define _GNU_SOURCE
#include "ckvm_pages.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_FILE_OR_SHARED (1ULL << 61)
#define PAGEMAP_CHUNK 512

// Drops [start, end) except its anonymous pages; returns the resident file pages dropped, or -errno.
static long release_range(int pagemap, uintptr_t start, uintptr_t end, long page) {
    uint64_t entries[PAGEMAP_CHUNK];
    long released = 0;
    uintptr_t run = start;   // start of the current run of droppable pages
    for (uintptr_t base = start; base < end;) {
        size_t count = (end - base) / (uintptr_t)page;
        if (count > PAGEMAP_CHUNK) count = PAGEMAP_CHUNK;
        ssize_t got = pread(pagemap, entries, count * sizeof entries[0], (off_t)(base / (uintptr_t)page * sizeof entries[0]));
        if (got <= 0) return got < 0 ? -errno : -EIO;
        count = (size_t)got / sizeof entries[0];
        for (size_t i = 0; i < count; i++) {
            uintptr_t address = base + i * (uintptr_t)page;
            int present = (entries[i] & PAGEMAP_PRESENT) != 0;
            if (present && !(entries[i] & PAGEMAP_FILE_OR_SHARED)) {   // anonymous: keep it
                if (address > run && madvise((void *)run, address - run, MADV_DONTNEED) != 0) return -errno;
                run = address + (uintptr_t)page;
            } else if (present) {
                released++;
            }
        }
        base += count * (uintptr_t)page;
    }
    if (end > run && madvise((void *)run, end - run, MADV_DONTNEED) != 0) return -errno;
    return released;
}

long ckvm_release_readonly_file_pages(void) {
    long page = sysconf(_SC_PAGESIZE);
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return -errno;
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) { int e = errno; fclose(maps); return -e; }
    long released = 0;
    char line[4096];
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end, inode;
        char perms[8], path[4096] = "";
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %4095[^\n]", &start, &end, perms, &inode, path) < 4) continue;
        // Private (p), not writable (-), backed by a file (an inode, an absolute path): text and
        // read-only data. Guest RAM (anonymous or a shared memfd), heaps and stacks never match.
        if (perms[1] != '-' || perms[3] != 'p' || inode == 0) continue;
        char *name = path;
        while (*name == ' ') name++;
        if (name[0] != '/') continue;
        long r = release_range(pagemap, (uintptr_t)start, (uintptr_t)end, page);
        if (r < 0) { released = r; break; }
        released += r;
    }
    close(pagemap);
    fclose(maps);
    return released < 0 ? released : released * page;
}

int ckvm_trim_heap(void) { return malloc_trim(0); }
