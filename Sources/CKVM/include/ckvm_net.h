// CKVM network shims for PodIntegration: the tun/tap, interface and socket calls whose request
// numbers are function-like macros (_IOW) or whose structs (ifreq, sockaddr_in) Swift can only fill
// through pointer casts. One call each, no logic; results are the call's value or -errno.
#ifndef CKVM_NET_H
#define CKVM_NET_H

#include <stdint.h>
#include <stddef.h>

// tun/tap flags (<linux/if_tun.h>), re-exported so Swift needs no Linux UAPI header.
static const short CKVM_IFF_TAP = 0x0002;
static const short CKVM_IFF_NO_PI = 0x1000;
static const short CKVM_IFF_VNET_HDR = 0x4000;
static const short CKVM_IFF_MULTI_QUEUE = 0x0100;

// open("/dev/net/tun", O_RDWR | O_CLOEXEC [| O_NONBLOCK]). fd or -errno.
int ckvm_net_open_tun(int nonblocking);
// TUNSETIFF with ifr_name = name, ifr_flags = flags. 0 or -errno.
int ckvm_net_tun_set_iff(int fd, const char *name, short flags);
// TUNSETPERSIST (the device outlives this fd when 1). 0 or -errno.
int ckvm_net_tun_set_persist(int fd, int persist);
// TUNSETOWNER / TUNSETGROUP (who may attach to a persistent device later). 0 or -errno.
int ckvm_net_tun_set_owner(int fd, unsigned int uid);
int ckvm_net_tun_set_group(int fd, unsigned int gid);

// SIOCGIFMTU on `name` through socket `sock`. MTU or -errno.
int ckvm_net_if_mtu(int sock, const char *name);
// SIOCGIFHWADDR: the 6-byte hardware address into `mac`. 0 or -errno.
int ckvm_net_if_hwaddr(int sock, const char *name, uint8_t mac[6]);
// SIOCGIFADDR (which = 0) or SIOCGIFNETMASK (which = 1): an IPv4 address in host byte order.
int ckvm_net_if_ipv4(int sock, const char *name, int which, uint32_t *address);
// if_nametoindex: index or -errno.
int ckvm_net_if_index(const char *name);

// setsockopt(SO_BINDTODEVICE, name). 0 or -errno.
int ckvm_net_bind_to_device(int sock, const char *name);
// bind(sock, {AF_INET, address (host order), port}). 0 or -errno.
int ckvm_net_bind_ipv4(int sock, uint32_t address, uint16_t port);
// sendto(sock, buf, len, 0, {AF_INET, address (host order), port}). Bytes sent or -errno.
long ckvm_net_sendto_ipv4(int sock, const void *buf, size_t len, uint32_t address, uint16_t port);

// memfd_create(name, MFD_CLOEXEC): an anonymous file to hand a child as stdin. fd or -errno.
int ckvm_net_memfd(const char *name);

// pipe2(fds, O_CLOEXEC) (a GNU call Swift's Glibc does not import). 0 or -errno.
int ckvm_net_pipe_cloexec(int fds[2]);

// setns(fd, CLONE_NEWNET) for the calling thread (needs _GNU_SOURCE). 0 or -errno.
int ckvm_net_setns_net(int fd);

#endif
