// Implementation of the CKVM shim: see include/ckvm.h for the conventions. No logic lives here.
#include "ckvm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

int ckvm_ioctl_none(int fd, unsigned long request) {
    int r = ioctl(fd, request, 0);
    return r < 0 ? -errno : r;
}

int ckvm_ioctl_ptr(int fd, unsigned long request, void *arg) {
    int r = ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
}

int ckvm_ioctl_val(int fd, unsigned long request, unsigned long arg) {
    int r = ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
}

static void *zalloc(size_t header, size_t entry, uint32_t count) {
    return calloc(1, header + entry * (size_t)count);
}

struct kvm_cpuid2 *ckvm_cpuid2_alloc(uint32_t count) {
    struct kvm_cpuid2 *c = zalloc(sizeof(*c), sizeof(struct kvm_cpuid_entry2), count);
    if (c) c->nent = count;
    return c;
}

struct kvm_msrs *ckvm_msrs_alloc(uint32_t count) {
    struct kvm_msrs *m = zalloc(sizeof(*m), sizeof(struct kvm_msr_entry), count);
    if (m) m->nmsrs = count;
    return m;
}

struct kvm_msr_list *ckvm_msr_list_alloc(uint32_t count) {
    struct kvm_msr_list *l = zalloc(sizeof(*l), sizeof(uint32_t), count);
    if (l) l->nmsrs = count;
    return l;
}

struct kvm_irq_routing *ckvm_irq_routing_alloc(uint32_t count) {
    struct kvm_irq_routing *r = zalloc(sizeof(*r), sizeof(struct kvm_irq_routing_entry), count);
    if (r) r->nr = count;
    return r;
}

struct kvm_dirty_log *ckvm_dirty_log_alloc(void) { return calloc(1, sizeof(struct kvm_dirty_log)); }

void ckvm_free(void *p) { free(p); }

struct kvm_cpuid_entry2 *ckvm_cpuid2_entries(struct kvm_cpuid2 *c) { return c->entries; }
struct kvm_msr_entry *ckvm_msrs_entries(struct kvm_msrs *m) { return m->entries; }
uint32_t *ckvm_msr_list_indices(struct kvm_msr_list *l) { return l->indices; }
struct kvm_irq_routing_entry *ckvm_irq_routing_entries(struct kvm_irq_routing *r) { return r->entries; }

void ckvm_set_immediate_exit(struct kvm_run *run, uint8_t value) {
    __atomic_store_n(&run->immediate_exit, value, __ATOMIC_SEQ_CST);
}

static void ckvm_kick_handler(int signo) { (void)signo; }

int ckvm_install_kick_handler(int signo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ckvm_kick_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: KVM_RUN must come back with EINTR
    return sigaction(signo, &sa, NULL) < 0 ? -errno : 0;
}

int ckvm_kick_thread(unsigned long thread, int signo) {
    return -pthread_kill((pthread_t)thread, signo);
}

int ckvm_sigrtmin(void) { return SIGRTMIN; }

int ckvm_eventfd(unsigned int initial, int semaphore) {
    int fd = eventfd(initial, EFD_CLOEXEC | EFD_NONBLOCK | (semaphore ? EFD_SEMAPHORE : 0));
    return fd < 0 ? -errno : fd;
}

int ckvm_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0) < 0 ? -errno : 0;
}

int ckvm_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ckvm_epoll_add(int epfd, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int ckvm_epoll_del(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int ckvm_epoll_wait(int epfd, int *ready, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) ready[i] = events[i].data.fd;
    return n;
}
