#!/usr/bin/env python3
"""Removes `unsafe` markers the compiler reports as covering no unsafe operation.
Usage: swift build 2>&1 | scripts/strip-unneeded-unsafe.py"""
import re, sys
hits = {}
for line in sys.stdin:
    m = re.match(r"^(/\S+\.swift):(\d+):(\d+): warning: no unsafe operations occur within 'unsafe' expression", line)
    if m:
        hits.setdefault(m.group(1), set()).add((int(m.group(2)), int(m.group(3))))
for path, spots in hits.items():
    lines = open(path).read().split("\n")
    for ln, col in sorted(spots, key=lambda s: (s[0], -s[1])):
        text = lines[ln - 1]
        if text[col - 1:col - 1 + 7] == "unsafe ":
            lines[ln - 1] = text[:col - 1] + text[col - 1 + 7:]
    open(path, "w").write("\n".join(lines))
    print(path, len(spots))
