// DHCP for the test /init (included by init.c). With `swifttest_net=dhcp` init runs busybox's
// `udhcpc` on eth0 (the one fork+exec: about a second on hosts that interpret guest kernel code)
// with /init itself as udhcpc's script: udhcpc runs `/init deconfig` and then `/init bound` with
// the lease in its environment (ip, subnet, router, mtu, dns), and init configures eth0 from it with
// ioctls instead of a shell. The lease is printed as `SWIFT-VMM-DHCP: ...` for the host to check.
// After the outbound checks, `net_inbound` serves one TCP connection on port 8080, which the host
// reaches through the pod IP (the launcher's DNAT).
#include <sys/wait.h>

#define NET_INBOUND_PORT 8080

static int dhcp_hook(const char *event) {
    int fd = open("/dev/console", O_WRONLY);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
    const char *ip = getenv("ip"), *subnet = getenv("subnet"), *router = getenv("router");
    const char *mtu = getenv("mtu"), *dns = getenv("dns");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "eth0");
    int ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    if (strcmp(event, "bound") == 0 || strcmp(event, "renew") == 0) {
        set_ipv4(&ifr.ifr_addr, ip ? ip : "0.0.0.0");
        ok = ok && ioctl(s, SIOCSIFADDR, &ifr) == 0;
        set_ipv4(&ifr.ifr_netmask, subnet ? subnet : "255.255.255.0");
        ok = ok && ioctl(s, SIOCSIFNETMASK, &ifr) == 0;
        if (mtu) { ifr.ifr_mtu = atoi(mtu); ok = ok && ioctl(s, SIOCSIFMTU, &ifr) == 0; }
        if (router) {
            char first[32] = {0};
            strncpy(first, router, sizeof first - 1);
            char *space = strchr(first, ' ');
            if (space) *space = 0;
            struct rtentry route;
            memset(&route, 0, sizeof route);
            set_ipv4(&route.rt_dst, "0.0.0.0");
            set_ipv4(&route.rt_genmask, "0.0.0.0");
            set_ipv4(&route.rt_gateway, first);
            route.rt_flags = RTF_UP | RTF_GATEWAY;
            ok = ok && ioctl(s, SIOCADDRT, &route) == 0;
        }
        printf("SWIFT-VMM-DHCP: ip=%s subnet=%s router=%s mtu=%s dns=%s configured=%s\n", ip ? ip : "-",
               subnet ? subnet : "-", router ? router : "-", mtu ? mtu : "-", dns ? dns : "-", ok ? "yes" : "no");
        fflush(stdout);
    }
    close(s);
    return ok ? 0 : 1;
}

static int net_dhcp(void) {
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"/bin/busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "10", "-T", "3",
                        "-s", "/init", NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("SWIFT-VMM-DHCP: udhcpc failed (status %d)\n", status);
        return 0;
    }
    return 1;
}

static void net_inbound(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct timeval tv = {.tv_sec = 180};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in any;
    set_ipv4((struct sockaddr *)&any, "0.0.0.0");
    any.sin_port = htons(NET_INBOUND_PORT);
    if (bind(s, (struct sockaddr *)&any, sizeof any) != 0 || listen(s, 1) != 0) {
        printf("SWIFT-VMM-NET-INBOUND: listen failed (%s)\n", strerror(errno));
        close(s);
        return;
    }
    printf("SWIFT-VMM-NET-LISTENING: %d\n", NET_INBOUND_PORT);
    fflush(stdout);
    int c = accept(s, NULL, NULL);
    if (c < 0) { printf("SWIFT-VMM-NET-INBOUND: accept failed (%s)\n", strerror(errno)); close(s); return; }
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static unsigned char buf[65536];
    uint32_t crc = 0;
    size_t got = 0;
    ssize_t r;
    while ((r = recv(c, buf, sizeof buf, 0)) > 0) { crc = crc32_update(crc, buf, (size_t)r); got += (size_t)r; }
    char reply[96];
    int n = snprintf(reply, sizeof reply, "GUEST-GOT bytes=%zu crc=%08x\n", got, crc);
    send(c, reply, (size_t)n, 0);
    close(c);
    close(s);
    printf("SWIFT-VMM-NET-INBOUND: bytes=%zu crc=%08x\n", got, crc);
    fflush(stdout);
}
