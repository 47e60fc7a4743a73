#!/usr/bin/env python3
"""Writes an uncompressed newc cpio initramfs (the kernel unpacks it without a decompressor, which
matters on hosts where guest CPL0 code is interpreted). No cpio binary needed.

usage: mkinitramfs.py OUTPUT [--file GUEST_PATH=HOST_PATH[:MODE]]... [--dir PATH]... [--char PATH=MAJ:MIN]..."""
import argparse, os, stat, sys

def entry(out, ino, name, mode, data=b"", rdev=(0, 0), nlink=1):
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join("%08X" % v for v in (
        ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
    out.write(hdr.encode() + name_b)
    out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
    out.write(data)
    out.write(b"\0" * ((4 - len(data) % 4) % 4))

def main():
    p = argparse.ArgumentParser()
    p.add_argument("output")
    p.add_argument("--file", action="append", default=[])
    p.add_argument("--dir", action="append", default=[])
    p.add_argument("--char", action="append", default=[])
    a = p.parse_args()
    ino = 1
    with open(a.output, "wb") as out:
        for d in a.dir:
            entry(out, ino, d.strip("/"), stat.S_IFDIR | 0o755, nlink=2); ino += 1
        for c in a.char:
            path, devno = c.split("=")
            major, minor = (int(x) for x in devno.split(":"))
            entry(out, ino, path.strip("/"), stat.S_IFCHR | 0o600, rdev=(major, minor)); ino += 1
        for f in a.file:
            guest, host = f.split("=", 1)
            mode = 0o755
            if ":" in host:
                host, m = host.rsplit(":", 1); mode = int(m, 8)
            with open(host, "rb") as h:
                entry(out, ino, guest.strip("/"), stat.S_IFREG | mode, h.read()); ino += 1
        entry(out, 0, "TRAILER!!!", 0)

if __name__ == "__main__":
    main()
