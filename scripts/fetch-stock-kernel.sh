#!/usr/bin/env bash
# Fetches Debian's stock cloud kernel (never committed) and extracts its uncompressed ELF vmlinux.
# Output: .cache/stock-kernel/vmlinux (and vmlinuz). Prints the vmlinux path.
#
# Why vmlinux: a bzImage decompresses itself in guest kernel mode, which hosts whose KVM interprets
# CPL0 code run ~1000x slower. The payload is LZ4 (Debian's config): it starts at
# (setup_sects + 1) * 512 + payload_offset, with payload_length bytes (boot protocol 2.08+).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/stock-kernel
mkdir -p "$out"
if [[ -s $out/vmlinux ]]; then echo "$out/vmlinux"; exit 0; fi
for tool in lz4 dpkg-deb; do
    command -v "$tool" >/dev/null || { echo "missing $tool (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The metapackage names the current ABI's image package; download that one.
image=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[[ -n $image ]] || { echo "cannot resolve linux-image-cloud-amd64 (run apt-get update)" >&2; exit 1; }
(cd "$tmp" && apt-get download -qq "$image" >&2)
dpkg-deb -x "$tmp"/*.deb "$tmp/x"
vmlinuz=$(ls "$tmp"/x/boot/vmlinuz-*)
cp "$vmlinuz" "$out/vmlinuz"
python3 - "$out/vmlinuz" "$tmp/payload.lz4" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
setup_sects = data[0x1F1] or 4
payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
start = (setup_sects + 1) * 512 + payload_offset
open(sys.argv[2], "wb").write(data[start:start + payload_length])
PY
# The LZ4 legacy frame ends with the kernel's appended size field; lz4 -d stops at it.
lz4 -d -q -f "$tmp/payload.lz4" "$out/vmlinux" || true
head -c 4 "$out/vmlinux" | grep -q $'\x7fELF' || { echo "extracted payload is not an ELF" >&2; rm -f "$out/vmlinux"; exit 1; }
echo "$out/vmlinux"
