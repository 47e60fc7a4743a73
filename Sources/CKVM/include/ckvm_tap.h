// CKVM shims for the VMM's tap backend (virtio-net): the tun ioctls whose request numbers are
// function-like macros (_IOW/_IOR) and whose ifreq Swift can only fill through pointer casts.
// Opening /dev/net/tun and TUNSETIFF are in ckvm_net.h. One call each, no logic; -errno on failure.
#ifndef CKVM_TAP_H
#define CKVM_TAP_H

// TUNSETOFFLOAD bits (<linux/if_tun.h>): what the tap may hand user space unfinished.
static const unsigned int CKVM_TUN_F_CSUM = 0x01;
static const unsigned int CKVM_TUN_F_TSO4 = 0x02;
static const unsigned int CKVM_TUN_F_TSO6 = 0x04;
static const unsigned int CKVM_TUN_F_TSO_ECN = 0x08;

// TUNSETVNETHDRSZ: the virtio-net header length the tap reads and writes (12 for virtio 1.x).
int ckvm_tap_set_vnet_hdr_size(int fd, int size);
// TUNSETOFFLOAD with CKVM_TUN_F_* bits. 0 or -errno.
int ckvm_tap_set_offload(int fd, unsigned int offloads);
// TUNGETIFF: the attached interface's name (into `name`, at least 16 bytes, NUL-terminated) and
// its IFF_* flags. 0 or -errno.
int ckvm_tap_get_iff(int fd, char *name, int *flags);

#endif
