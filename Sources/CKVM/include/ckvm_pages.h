// Releasing the page-table entries of a process's read-only, file-backed mappings (its text and
// read-only data, and those of any shared library): once a VMM has parsed its arguments, loaded
// the guest image and started the vCPUs, most of the code it ran is never needed again, yet every
// page of it stays in the resident set (fault-around maps 64 KiB per fault). MADV_DONTNEED on a
// private file mapping that has no copy-on-write pages only drops this process's mappings: the
// pages stay in the page cache and the next access maps them again from the file, unchanged.
#ifndef CKVM_PAGES_H
#define CKVM_PAGES_H

// Walks /proc/self/maps; for each private mapping of a regular file without write permission,
// reads /proc/self/pagemap and drops the runs of pages that are file pages or not present, never
// a page that is anonymous (a copy-on-write page, e.g. a debugger's breakpoint). Read-only
// mappings cannot gain such pages concurrently, so other threads may keep running.
// Returns the number of resident bytes released, or -errno.
long ckvm_release_readonly_file_pages(void);

// malloc_trim(0): glibc returns the free memory of every arena to the kernel (the top of each heap
// and, with MADV_DONTNEED, free pages inside it). Start-up frees megabytes (image parsing, the
// kernel's bytes) that glibc would otherwise keep: freeing a large mmap'd block raises its mmap
// and trim thresholds, so later frees stay in the heap. Returns 1 if memory was released.
int ckvm_trim_heap(void);

#endif
