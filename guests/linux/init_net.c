// The network part of the test /init (included by init.c, which stays one static program with no
// fork/exec). Enabled by `swifttest_net=1` on the kernel command line: configures eth0 as
// 10.0.2.15/24 with a default route via 10.0.2.1 (the host side of the tap, in the test's network
// namespace), pings 10.0.2.1 with a raw ICMP socket, then over TCP to 10.0.2.1:5201 sends
// `swifttest_net_bytes` bytes (default 4 MiB), half-closes, and reads the server's reply to EOF.
// `swifttest_net_guest`, `swifttest_net_gateway` and `swifttest_net_server` change the three
// addresses (the pod-launcher test: 10.0.2.2 behind the masquerade bridge, a server outside the pod).
// Both directions print a byte count and a CRC-32 (zlib's) for the host to compare with its own.
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#define NET_PORT 5201

static const char *net_env(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return value && *value ? value : fallback;
}
#define NET_GUEST net_env("swifttest_net_guest", "10.0.2.15")
#define NET_HOST net_env("swifttest_net_gateway", "10.0.2.1")
#define NET_SERVER net_env("swifttest_net_server", NET_HOST)

static uint32_t crc_table[256];

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n) {
    if (!crc_table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    }
    crc = ~crc;
    while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void set_ipv4(struct sockaddr *sa, const char *address) {
    struct sockaddr_in *sin = (struct sockaddr_in *)sa;
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, address, &sin->sin_addr);
}

static int net_configure(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "eth0");
    if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0) {
        unsigned char *m = (unsigned char *)ifr.ifr_hwaddr.sa_data;
        printf("SWIFT-VMM-NET-MAC: %02x:%02x:%02x:%02x:%02x:%02x\n", m[0], m[1], m[2], m[3], m[4], m[5]);
    }
    set_ipv4(&ifr.ifr_addr, NET_GUEST);
    int ok = ioctl(s, SIOCSIFADDR, &ifr) == 0;
    set_ipv4(&ifr.ifr_netmask, "255.255.255.0");
    ok = ok && ioctl(s, SIOCSIFNETMASK, &ifr) == 0;
    ok = ok && ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    struct rtentry route;
    memset(&route, 0, sizeof route);
    set_ipv4(&route.rt_dst, "0.0.0.0");
    set_ipv4(&route.rt_genmask, "0.0.0.0");
    set_ipv4(&route.rt_gateway, NET_HOST);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    ok = ok && ioctl(s, SIOCADDRT, &route) == 0;
    if (ok) printf("SWIFT-VMM-NET-UP: eth0 %s/24 via %s\n", NET_GUEST, NET_HOST);
    else printf("SWIFT-VMM-NET-UP: %s\n", strerror(errno));
    close(s);
    print_file("NET-FEATURES", "/sys/class/net/eth0/device/features");
    return ok;
}

static uint16_t icmp_checksum(const unsigned char *p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1) sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void net_ping(void) {
    int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in host;
    set_ipv4((struct sockaddr *)&host, NET_HOST);
    for (int seq = 1; seq <= 3; seq++) {
        unsigned char echo[16] = {8, 0, 0, 0, 0x53, 0x56, 0, (unsigned char)seq, 'S', 'W', 'I', 'F', 'T', 'V', 'M', 'M'};
        uint16_t c = icmp_checksum(echo, sizeof echo);
        echo[2] = c >> 8; echo[3] = c & 0xff;
        sendto(s, echo, sizeof echo, 0, (struct sockaddr *)&host, sizeof host);
        unsigned char reply[256];
        ssize_t n;
        // Raw ICMP sockets see every ICMP packet: skip anything but our echo reply.
        while ((n = recv(s, reply, sizeof reply, 0)) > 0) {
            size_t ihl = (reply[0] & 0xf) * 4;
            if ((size_t)n >= ihl + 8 && reply[ihl] == 0 && reply[ihl + 4] == 0x53 && reply[ihl + 7] == seq) {
                printf("SWIFT-VMM-NET-PING: reply from %s seq=%d\n", NET_HOST, seq);
                close(s);
                return;
            }
        }
    }
    printf("SWIFT-VMM-NET-PING: no reply (%s)\n", strerror(errno));
    close(s);
}

static void net_tcp(size_t total) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 120};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in host;
    set_ipv4((struct sockaddr *)&host, NET_SERVER);
    host.sin_port = htons(NET_PORT);
    if (connect(s, (struct sockaddr *)&host, sizeof host) != 0) {
        printf("SWIFT-VMM-NET-TCP: connect failed (%s)\n", strerror(errno));
        close(s);
        return;
    }
    static unsigned char buf[65536];
    uint32_t crc = 0;
    size_t sent = 0;
    while (sent < total) {
        size_t n = total - sent < sizeof buf ? total - sent : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((sent + i) * 7 + ((sent + i) >> 12));
        ssize_t w = send(s, buf, n, 0);
        if (w <= 0) break;
        crc = crc32_update(crc, buf, (size_t)w);
        sent += (size_t)w;
    }
    shutdown(s, SHUT_WR);
    printf("SWIFT-VMM-NET-TX: bytes=%zu crc=%08x\n", sent, crc);
    fflush(stdout);
    size_t got = 0;
    crc = 0;
    ssize_t r;
    while ((r = recv(s, buf, sizeof buf, 0)) > 0) {
        crc = crc32_update(crc, buf, (size_t)r);
        got += (size_t)r;
    }
    printf("SWIFT-VMM-NET-RX: bytes=%zu crc=%08x%s\n", got, crc, r < 0 ? " (error)" : "");
    close(s);
}

#include "init_dhcp.c"   // swifttest_net=dhcp: the address from the VMM's DHCP server, and an inbound server

static void net_checks(int dhcp) {
    const char *bytes = getenv("swifttest_net_bytes");
    size_t total = bytes ? strtoul(bytes, NULL, 10) : 4u << 20;
    if (dhcp ? net_dhcp() : net_configure()) {
        net_ping();
        net_tcp(total);
        if (dhcp) net_inbound();
    }
    fflush(stdout);
}
