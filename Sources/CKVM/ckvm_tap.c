// Implementation of the tap shims: see include/ckvm_tap.h. No logic lives here.
#include "ckvm_tap.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>

_Static_assert(TUN_F_CSUM == 0x01 && TUN_F_TSO4 == 0x02 && TUN_F_TSO6 == 0x04 && TUN_F_TSO_ECN == 0x08,
               "TUN_F_* bits");

int ckvm_tap_set_vnet_hdr_size(int fd, int size) {
    return ioctl(fd, TUNSETVNETHDRSZ, &size) < 0 ? -errno : 0;
}

int ckvm_tap_set_offload(int fd, unsigned int offloads) {
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0 ? -errno : 0;
}

int ckvm_tap_get_iff(int fd, char *name, int *flags) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) return -errno;
    memcpy(name, ifr.ifr_name, IFNAMSIZ);
    name[IFNAMSIZ - 1] = 0;
    *flags = (unsigned short)ifr.ifr_flags;
    return 0;
}
