#!/usr/bin/env bash
# Installs what building and testing need on Debian 12, idempotently. Run as root (or with sudo).
# - System packages: kernel headers for <linux/kvm.h>, libseccomp/libcap (sandboxing), QEMU tools for
#   cross-checks, iproute2 for network namespaces, e2fsprogs for disk images, nftables for pod NAT,
#   busybox-static (udhcpc, the stand-in DHCP client), genisoimage (isoinfo reads our cloud-init ISOs).
# - qemu-system-x86: the boot-time benchmark runs QEMU microvm beside vmm on the same guests.
# - Swift 6.2+ is expected on PATH (or at /opt/swift/usr/bin). Debian has no Swift 6 package; see
#   README.md for installing the toolchain from swift.org when it is missing.
set -euo pipefail

packages=(linux-libc-dev libseccomp-dev libcap-dev iproute2 e2fsprogs gcc libc6-dev python3 lz4 acpica-tools
          nftables busybox-static genisoimage socat qemu-utils qemu-system-x86)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    if [[ -x /opt/swift/usr/bin/swift ]]; then
        echo "note: add /opt/swift/usr/bin to PATH" >&2
    else
        echo "error: no Swift toolchain found. Install Swift 6.2 or later (see README.md, 'Host requirements')." >&2
        exit 1
    fi
fi
