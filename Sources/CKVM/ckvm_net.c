// Implementation of the network shims: see include/ckvm_net.h. No logic lives here.
#define _GNU_SOURCE
#include "ckvm_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(IFF_TAP == 0x0002 && IFF_NO_PI == 0x1000 && IFF_VNET_HDR == 0x4000 &&
               IFF_MULTI_QUEUE == 0x0100, "tun flags");

static void set_name(struct ifreq *ifr, const char *name) {
    memset(ifr, 0, sizeof(*ifr));
    strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
}

int ckvm_net_open_tun(int nonblocking) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0));
    return fd < 0 ? -errno : fd;
}

int ckvm_net_tun_set_iff(int fd, const char *name, short flags) {
    struct ifreq ifr;
    set_name(&ifr, name);
    ifr.ifr_flags = flags;
    return ioctl(fd, TUNSETIFF, &ifr) < 0 ? -errno : 0;
}

int ckvm_net_tun_set_persist(int fd, int persist) {
    return ioctl(fd, TUNSETPERSIST, (unsigned long)persist) < 0 ? -errno : 0;
}

int ckvm_net_tun_set_owner(int fd, unsigned int uid) {
    return ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ? -errno : 0;
}

int ckvm_net_tun_set_group(int fd, unsigned int gid) {
    return ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0 ? -errno : 0;
}

int ckvm_net_if_mtu(int sock, const char *name) {
    struct ifreq ifr;
    set_name(&ifr, name);
    return ioctl(sock, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
}

int ckvm_net_if_hwaddr(int sock, const char *name, uint8_t mac[6]) {
    struct ifreq ifr;
    set_name(&ifr, name);
    if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0) return -errno;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

int ckvm_net_if_ipv4(int sock, const char *name, int which, uint32_t *address) {
    struct ifreq ifr;
    set_name(&ifr, name);
    if (ioctl(sock, which ? SIOCGIFNETMASK : SIOCGIFADDR, &ifr) < 0) return -errno;
    struct sockaddr_in sin;
    memcpy(&sin, which ? &ifr.ifr_netmask : &ifr.ifr_addr, sizeof(sin));
    *address = ntohl(sin.sin_addr.s_addr);
    return 0;
}

int ckvm_net_if_index(const char *name) {
    unsigned int index = if_nametoindex(name);
    return index == 0 ? -errno : (int)index;
}

int ckvm_net_bind_to_device(int sock, const char *name) {
    return setsockopt(sock, SOL_SOCKET, SO_BINDTODEVICE, name, (socklen_t)strlen(name)) < 0 ? -errno : 0;
}

static struct sockaddr_in ipv4(uint32_t address, uint16_t port) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(address);
    sin.sin_port = htons(port);
    return sin;
}

int ckvm_net_bind_ipv4(int sock, uint32_t address, uint16_t port) {
    struct sockaddr_in sin = ipv4(address, port);
    return bind(sock, (struct sockaddr *)&sin, sizeof(sin)) < 0 ? -errno : 0;
}

long ckvm_net_sendto_ipv4(int sock, const void *buf, size_t len, uint32_t address, uint16_t port) {
    struct sockaddr_in sin = ipv4(address, port);
    ssize_t n = sendto(sock, buf, len, 0, (struct sockaddr *)&sin, sizeof(sin));
    return n < 0 ? -errno : (long)n;
}

int ckvm_net_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

int ckvm_net_memfd(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ckvm_net_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
}
