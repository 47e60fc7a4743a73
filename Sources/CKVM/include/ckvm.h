// CKVM: the C shim between Swift and <linux/kvm.h>.
//
// Swift cannot call the variadic ioctl(2) nor import the function-like _IO/_IOR/_IOW macros that
// define the KVM request numbers, so this header re-exports each request as a constant and offers
// fixed-arity ioctl wrappers. It holds no logic: every decision lives in KVMCore.
//
// Error convention (all ckvm_ioctl_* functions): the ioctl's non-negative result on success, or the
// negated errno (-EINVAL, -EINTR, ...) on failure. errno is read inside C immediately after the call,
// so nothing between the syscall and the Swift caller can clobber it.
#ifndef CKVM_H
#define CKVM_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stddef.h>

// ---- request numbers (system fd) ----
static const unsigned long CKVM_GET_API_VERSION = KVM_GET_API_VERSION;
static const unsigned long CKVM_CREATE_VM = KVM_CREATE_VM;
static const unsigned long CKVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const unsigned long CKVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const unsigned long CKVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const unsigned long CKVM_GET_MSR_INDEX_LIST = KVM_GET_MSR_INDEX_LIST;
static const unsigned long CKVM_GET_MSR_FEATURE_INDEX_LIST = KVM_GET_MSR_FEATURE_INDEX_LIST;

// ---- request numbers (VM fd) ----
static const unsigned long CKVM_CREATE_VCPU = KVM_CREATE_VCPU;
static const unsigned long CKVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const unsigned long CKVM_GET_DIRTY_LOG = KVM_GET_DIRTY_LOG;
static const unsigned long CKVM_CLEAR_DIRTY_LOG = KVM_CLEAR_DIRTY_LOG;
static const unsigned long CKVM_CREATE_IRQCHIP = KVM_CREATE_IRQCHIP;
static const unsigned long CKVM_GET_IRQCHIP = KVM_GET_IRQCHIP;
static const unsigned long CKVM_SET_IRQCHIP = KVM_SET_IRQCHIP;
static const unsigned long CKVM_CREATE_PIT2 = KVM_CREATE_PIT2;
static const unsigned long CKVM_GET_PIT2 = KVM_GET_PIT2;
static const unsigned long CKVM_SET_PIT2 = KVM_SET_PIT2;
static const unsigned long CKVM_IRQ_LINE = KVM_IRQ_LINE;
static const unsigned long CKVM_IRQ_LINE_STATUS = KVM_IRQ_LINE_STATUS;
static const unsigned long CKVM_IRQFD = KVM_IRQFD;
static const unsigned long CKVM_IOEVENTFD = KVM_IOEVENTFD;
static const unsigned long CKVM_SIGNAL_MSI = KVM_SIGNAL_MSI;
static const unsigned long CKVM_SET_GSI_ROUTING = KVM_SET_GSI_ROUTING;
static const unsigned long CKVM_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
static const unsigned long CKVM_SET_IDENTITY_MAP_ADDR = KVM_SET_IDENTITY_MAP_ADDR;
static const unsigned long CKVM_GET_CLOCK = KVM_GET_CLOCK;
static const unsigned long CKVM_SET_CLOCK = KVM_SET_CLOCK;
static const unsigned long CKVM_ENABLE_CAP = KVM_ENABLE_CAP;

// ---- request numbers (vCPU fd) ----
static const unsigned long CKVM_RUN = KVM_RUN;
static const unsigned long CKVM_GET_REGS = KVM_GET_REGS;
static const unsigned long CKVM_SET_REGS = KVM_SET_REGS;
static const unsigned long CKVM_GET_SREGS = KVM_GET_SREGS;
static const unsigned long CKVM_SET_SREGS = KVM_SET_SREGS;
static const unsigned long CKVM_GET_FPU = KVM_GET_FPU;
static const unsigned long CKVM_SET_FPU = KVM_SET_FPU;
static const unsigned long CKVM_GET_MSRS = KVM_GET_MSRS;
static const unsigned long CKVM_SET_MSRS = KVM_SET_MSRS;
static const unsigned long CKVM_SET_CPUID2 = KVM_SET_CPUID2;
static const unsigned long CKVM_GET_CPUID2 = KVM_GET_CPUID2;
static const unsigned long CKVM_GET_LAPIC = KVM_GET_LAPIC;
static const unsigned long CKVM_SET_LAPIC = KVM_SET_LAPIC;
static const unsigned long CKVM_GET_XSAVE = KVM_GET_XSAVE;
static const unsigned long CKVM_SET_XSAVE = KVM_SET_XSAVE;
static const unsigned long CKVM_GET_XCRS = KVM_GET_XCRS;
static const unsigned long CKVM_SET_XCRS = KVM_SET_XCRS;
static const unsigned long CKVM_GET_VCPU_EVENTS = KVM_GET_VCPU_EVENTS;
static const unsigned long CKVM_SET_VCPU_EVENTS = KVM_SET_VCPU_EVENTS;
static const unsigned long CKVM_GET_MP_STATE = KVM_GET_MP_STATE;
static const unsigned long CKVM_SET_MP_STATE = KVM_SET_MP_STATE;
static const unsigned long CKVM_SET_TSC_KHZ = KVM_SET_TSC_KHZ;
static const unsigned long CKVM_GET_TSC_KHZ = KVM_GET_TSC_KHZ;
static const unsigned long CKVM_KVMCLOCK_CTRL = KVM_KVMCLOCK_CTRL;
static const unsigned long CKVM_INTERRUPT = KVM_INTERRUPT;
static const unsigned long CKVM_NMI = KVM_NMI;
static const unsigned long CKVM_TRANSLATE = KVM_TRANSLATE;
static const unsigned long CKVM_GET_DEBUGREGS = KVM_GET_DEBUGREGS;
static const unsigned long CKVM_SET_DEBUGREGS = KVM_SET_DEBUGREGS;

// ---- ioctl wrappers (see the error convention above) ----
int ckvm_ioctl_none(int fd, unsigned long request);
int ckvm_ioctl_ptr(int fd, unsigned long request, void *arg);
int ckvm_ioctl_val(int fd, unsigned long request, unsigned long arg);

// ---- flexible-array structs ----
// Each allocator returns zeroed storage for a header plus `count` entries with the count field set,
// or NULL when out of memory. Release with ckvm_free.
struct kvm_cpuid2 *ckvm_cpuid2_alloc(uint32_t count);
struct kvm_msrs *ckvm_msrs_alloc(uint32_t count);
struct kvm_msr_list *ckvm_msr_list_alloc(uint32_t count);
struct kvm_irq_routing *ckvm_irq_routing_alloc(uint32_t count);
struct kvm_dirty_log *ckvm_dirty_log_alloc(void);
void ckvm_free(void *p);

// Entry accessors: Swift does not import C flexible array members.
struct kvm_cpuid_entry2 *ckvm_cpuid2_entries(struct kvm_cpuid2 *c);
struct kvm_msr_entry *ckvm_msrs_entries(struct kvm_msrs *m);
uint32_t *ckvm_msr_list_indices(struct kvm_msr_list *l);
struct kvm_irq_routing_entry *ckvm_irq_routing_entries(struct kvm_irq_routing *r);

// ---- kvm_run page, shared with another thread ----
// immediate_exit is written by a thread that wants the vCPU out of KVM_RUN while the vCPU thread
// reads it through the kernel: an atomic byte store keeps that well defined.
void ckvm_set_immediate_exit(struct kvm_run *run, uint8_t value);

// Installs a handler for `signo` that does nothing, without SA_RESTART, so that a pthread_kill of a
// vCPU thread makes its blocking KVM_RUN return EINTR instead of killing the process. 0 or -errno.
int ckvm_install_kick_handler(int signo);

// eventfd(2), non-blocking and close-on-exec (the EFD_* flags are not importable). fd or -errno.
int ckvm_eventfd(unsigned int initial, int semaphore);

// Names the calling thread (vcpu0, ...; at most 15 bytes shown): prctl(PR_SET_NAME) is variadic.
int ckvm_set_thread_name(const char *name);

// epoll for the device event loop (Swift's Glibc module does not carry <sys/epoll.h>). Each call is
// the syscall with EPOLLIN interest and the fd itself as the event data; results are fd or -errno.
int ckvm_epoll_create(void);
int ckvm_epoll_add(int epfd, int fd);
int ckvm_epoll_del(int epfd, int fd);
// Waits for up to `max` ready fds, written to `ready`; returns their count or -errno.
int ckvm_epoll_wait(int epfd, int *ready, int max, int timeout_ms);

// SIGRTMIN is a glibc function call, not a constant Swift can import.
int ckvm_sigrtmin(void);

// The thread-directed kick itself (pthread_kill on the calling process's thread). 0 or -errno.
int ckvm_kick_thread(unsigned long thread, int signo);

#endif
