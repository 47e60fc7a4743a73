#!/usr/bin/env python3
"""Boot-time and memory harness: vmm against QEMU microvm, side by side on the same work.

Measures (medians over interleaved runs, so machine noise hits both alike):
  first-instruction  process start -> the first byte on stdout of a PVH probe whose first instruction
                     writes it to COM1 (guests/pvh_exit.S): the cost of getting a guest running;
                     process start -> exit (its next instruction writes the debug-exit port) beside it.
  memory             VMM overhead while a PVH guest idles in HLT (guests/pvh_idle.S), 128 MiB RAM:
                     process RSS minus the RSS of the guest-RAM mapping, read from /proc/PID/smaps
                     (the way Firecracker and Cloud Hypervisor state their overhead), its anonymous
                     part, and vmm with --keep-startup-pages beside it (what the release saves).
  linux-memory       (--linux) the same with the shared guest kernel idle at /init, vmm and QEMU.
  linux-userspace    (--linux) process start -> the test /init's marker on the serial console, for
                     the shared guest kernel with the same initramfs and command line.
  virtio-blk         (--virtio) the same O_DIRECT reads inside Linux (guests/linux/init_bench.c) from a
                     virtio-blk disk in /dev/shm, vmm against QEMU microvm: MiB/s and IOPS.
  stock-first-line   (--linux) process start -> the first line of Debian's stock cloud kernel's boot
                     log ("Linux version ..."), fetched by scripts/fetch-stock-kernel.sh.
  launch-first-instr `vmm launch` of a kernelBoot VMI (128Mi, no interfaces, no disks) whose kernel is
                     the same PVH probe, interleaved with `vmm run` of it: process start -> exit. The
                     launcher runs in a private mount namespace whose /run is a temp folder holding
                     kubevirt/container-disks/kernel-boot/, so the host's /run is not touched (root);
                     the namespace wrapper alone (unshare, sh, mount, exec true) is timed beside them.
  launch-memory      overhead of `vmm launch` with the idle probe, as `memory` measures it, beside
                     KubeVirt's published 240 MiB fixed virt-launcher overhead (target <= 10 MiB).
Writes results.json and chart.svg into --out (default Benchmarks/boot/results) and prints ratios.
"""
import argparse, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QEMU = ["qemu-system-x86_64", "-M", "microvm", "-enable-kvm", "-cpu", "host,-arch-capabilities,-cx16",
        "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]

def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)

def build(out):
    # A fully static executable (Swift runtime and glibc), as the launcher image ships it: no shared
    # libraries to map, which takes about 4 MiB off the resident set (libc, libstdc++, libm, ld.so).
    sh(["swift", "build", "-c", "release", "--product", "vmm", "-Xswiftc", "-static-executable",
        "--scratch-path", os.path.join(ROOT, ".build-static")], cwd=ROOT, stdout=subprocess.DEVNULL)
    sh(["bash", os.path.join(ROOT, "guests/build.sh"), out])
    return os.path.join(ROOT, ".build-static/release/vmm")

def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0

def timed_first_byte(cmd):
    """(process start -> first byte on stdout, process start -> exit): the probe's first instruction
    puts a byte on the serial console, so the first figure excludes VM teardown (KVM's VM destroy on
    this host sometimes takes 15 ms, for QEMU and vmm alike) and the second includes it."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = os.read(p.stdout.fileno(), 1)
    t1 = time.perf_counter()
    p.stdout.read()
    p.wait()
    t2 = time.perf_counter()
    assert first == b"I" and p.returncode == 1, f"{cmd[0]}: probe output {first!r}, exit status {p.returncode}"
    return t1 - t0, t2 - t0

def first_instruction(vmm, guests, rounds):
    probe = os.path.join(guests, "pvh_exit.elf")
    cmds = {"vmm": [vmm, "run", "--kernel", probe, "--memory", "128", "--serial-input", "none"],
            "qemu": QEMU + ["-m", "128", "-kernel", probe]}
    first, exit_ = {k: [] for k in cmds}, {k: [] for k in cmds}
    for i in range(rounds):
        order = list(cmds) if i % 2 == 0 else list(reversed(list(cmds)))
        for k in order:
            f, e = timed_first_byte(cmds[k])
            first[k].append(f); exit_[k].append(e)
    return ({k: statistics.median(v) * 1000 for k, v in first.items()},
            {k: statistics.median(v) * 1000 for k, v in exit_.items()})

def smaps_totals(pid, ram_bytes):
    """KiB totals from /proc/PID/smaps: RSS and anonymous memory, each also for the guest-RAM mapping
    (the one mapping at least ram_bytes long)."""
    t = {"rss": 0, "anon": 0, "guest_rss": 0, "guest_anon": 0}
    size = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size = hi - lo
            elif parts[0] in ("Rss:", "Anonymous:"):
                key = "rss" if parts[0] == "Rss:" else "anon"
                kib = int(parts[1])
                t[key] += kib
                if size is not None and size >= ram_bytes:
                    t["guest_" + key] += kib
    return t

def overhead_mib(pid, ram_bytes):
    t = smaps_totals(pid, ram_bytes)
    return (t["rss"] - t["guest_rss"]) / 1024, t["rss"] / 1024

def overhead_entry(pid, ram_bytes):
    """Firecracker's figure (RSS minus guest RAM) and its anonymous part (what the VMM allocated, as
    opposed to pages of its executable and libraries)."""
    t = smaps_totals(pid, ram_bytes)
    return {"overhead_mib": round((t["rss"] - t["guest_rss"]) / 1024, 2), "rss_mib": round(t["rss"] / 1024, 2),
            "anonymous_overhead_mib": round((t["anon"] - t["guest_anon"]) / 1024, 2)}

def memory(vmm, guests, settle):
    idle = os.path.join(guests, "pvh_idle.elf")
    # vmm-keep: the same with --keep-startup-pages, to show what releasing the start-up pages saves.
    cmds = {"vmm": [vmm, "run", "--kernel", idle, "--memory", "128", "--serial-input", "none"],
            "vmm-keep": [vmm, "run", "--kernel", idle, "--memory", "128", "--serial-input", "none", "--keep-startup-pages"],
            "qemu": QEMU + ["-m", "128", "-kernel", idle]}
    result = {}
    for k, cmd in cmds.items():
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(settle)
        try:
            result[k] = overhead_entry(p.pid, 128 << 20)
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    return result

def linux_memory(vmm, kernel, initrd, settle):
    """Overhead with a real Linux guest: the shared guest kernel booted to /init, which then waits
    (swifttest_end=cad: pause() until SIGINT), measured `settle` seconds after its wait marker. 128 MiB,
    1 vCPU, the same kernel, initramfs and command line under vmm and QEMU microvm."""
    cmdline = "console=ttyS0 mitigations=off panic=-1 swifttest_end=cad"
    cmds = {"vmm": [vmm, "run", "--kernel", kernel, "--initrd", initrd, "--memory", "128", "--serial-input", "none",
                    "--cpu-template", "nested-emulator", "--cmdline", cmdline],
            "vmm-keep": [vmm, "run", "--kernel", kernel, "--initrd", initrd, "--memory", "128", "--serial-input", "none",
                         "--cpu-template", "nested-emulator", "--cmdline", cmdline, "--keep-startup-pages"],
            "qemu": QEMU + ["-m", "128", "-kernel", kernel, "-initrd", initrd,
                            "-append", cmdline + " noxsave clearcpuid=popcnt,smap"]}
    result = {}
    for k, cmd in cmds.items():
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        watchdog = threading.Timer(400, p.kill)
        watchdog.start()
        out = b""
        try:
            while b"SWIFT-VMM-WAITING-FOR-CAD" not in out:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"{k}: the guest never reached /init's wait: {out[-1500:]!r}")
                out += chunk
            time.sleep(settle)
            result[k] = overhead_entry(p.pid, 128 << 20)
        finally:
            watchdog.cancel()
            p.kill(); p.wait()
    return result

def time_until(cmds, marker, rounds):
    """Median seconds from process start until `marker` appears on stdout, runs interleaved."""
    times = {k: [] for k in cmds}
    for i in range(rounds):
        for k in (list(cmds) if i % 2 == 0 else list(reversed(list(cmds)))):
            t0 = time.perf_counter()
            p = subprocess.Popen(cmds[k], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            seen = None
            for line in p.stdout:
                if marker in line:
                    seen = time.perf_counter() - t0
                    break
            p.kill(); p.wait()
            times[k].append(seen if seen is not None else float("nan"))
    return {k: statistics.median(v) for k, v in times.items()}

KUBEVIRT_FIXED_OVERHEAD_MIB = 240  # KubeVirt's virt-launcher pod, fixed part, as published (issue 5)
NAMESPACED = 'mount --bind "$0" /run && exec "$@"'  # $0: the folder standing in for /run

def launcher_run_dir(guests):
    """A folder to bind over /run: the probes where the kernel-boot container would have copied them."""
    run = tempfile.mkdtemp(prefix="vmm-bench-run-")
    kernel_boot = os.path.join(run, "kubevirt", "container-disks", "kernel-boot")
    os.makedirs(kernel_boot)
    for probe in ("pvh_exit.elf", "pvh_idle.elf"):
        shutil.copy(os.path.join(guests, probe), kernel_boot)
    return run

def launch_cmd(vmm, run, probe):
    vmi = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
           "metadata": {"name": "bench", "namespace": "bench"},
           "spec": {"domain": {"memory": {"guest": "128Mi"},
                               "firmware": {"kernelBoot": {"container": {"image": "bench", "kernelPath": f"/boot/{probe}"},
                                                           "kernelArgs": ""}},
                               "devices": {"autoattachPodInterface": False}}}}
    path = os.path.join(run, f"vmi-{probe}.json")
    json.dump(vmi, open(path, "w"))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACED, run,
            vmm, "launch", "--vmi", path, "--status-file", os.path.join(run, "status.json")]

def launch_first_instruction(vmm, guests, run, rounds):
    probe = os.path.join(guests, "pvh_exit.elf")
    cmds = {"launch": launch_cmd(vmm, run, "pvh_exit.elf"),
            "run": [vmm, "run", "--kernel", probe, "--memory", "128", "--serial-input", "none"],
            "namespace": ["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACED, run, "true"]}
    sh(cmds["launch"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # Succeeded: 0
    times = {k: [] for k in cmds}
    for i in range(rounds):
        for k in (list(cmds) if i % 2 == 0 else list(reversed(list(cmds)))):
            times[k].append(timed(cmds[k]))
    return {k: statistics.median(v) * 1000 for k, v in times.items()}

def launch_memory(vmm, run, settle):
    p = subprocess.Popen(launch_cmd(vmm, run, "pvh_idle.elf"),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(settle)
    try:
        assert os.path.basename(os.readlink(f"/proc/{p.pid}/exe")) == "vmm", "the launcher did not start"
        entry = overhead_entry(p.pid, 128 << 20)
    finally:
        # The first SIGTERM asks the guest to shut down, which the idle probe ignores; the second
        # stops it hard.
        for _ in range(2):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(1)
                break
            except subprocess.TimeoutExpired:
                pass
        else:
            p.kill(); p.wait()
    return entry

def linux_userspace(vmm, kernel, initrd, rounds):
    cmdline = "console=ttyS0 mitigations=off acpi=off panic=-1 reboot=k noxsave clearcpuid=popcnt,smap"
    cmds = {"vmm": [vmm, "run", "--kernel", kernel, "--initrd", initrd, "--memory", "256", "--serial-input", "none",
                    "--cpu-template", "nested-emulator", "--cmdline", cmdline.replace(" noxsave clearcpuid=popcnt,smap", "")],
            "qemu": QEMU + ["-m", "256", "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", cmdline]}
    return time_until(cmds, b"SWIFT-VMM-INIT-OK", rounds)

def virtio_blk_in_linux(vmm, kernel, initrd):
    """The same in-guest O_DIRECT reads (guests/linux/init_bench.c) from a 64 MiB virtio-blk disk in
    /dev/shm, under vmm and under QEMU microvm (virtio-blk-device, cache=writeback: both serve from
    the host page cache). Returns MiB/s (16 MiB of 64 KiB reads) and IOPS (2000 random 4 KiB)."""
    disk = f"/dev/shm/vmm-bench-disk-{os.getpid()}.img"
    with open(disk, "wb") as f:
        f.write(os.urandom(1 << 20) * 64)
    # acpi=off: no ACPI power-off, so init ends with a reboot (reboot=k: the i8042; QEMU: -no-reboot).
    cmdline = "console=ttyS0 mitigations=off acpi=off panic=-1 reboot=k swifttest_bench=blk swifttest_end=reboot noxsave clearcpuid=popcnt,smap"
    cmds = {"vmm": [vmm, "run", "--kernel", kernel, "--initrd", initrd, "--memory", "256", "--serial-input", "none",
                    "--cpu-template", "nested-emulator", "--disk", f"path={disk}",
                    "--cmdline", cmdline.replace(" noxsave clearcpuid=popcnt,smap", "")],
            # QEMU's own acpi=off: only then does microvm put virtio_mmio.device= on the command line.
            "qemu": [("microvm,acpi=off" if arg == "microvm" else arg) for arg in QEMU]
                    + ["-m", "256", "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
                            "-drive", f"id=d0,file={disk},format=raw,if=none,cache=writeback",
                            "-device", "virtio-blk-device,drive=d0"]}
    result = {}
    try:
        for k, cmd in cmds.items():
            # Read until both lines are out, then stop the VM (however the guest would end: QEMU
            # microvm has no i8042 to take the reboot); a watchdog ends a guest that never gets there.
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            watchdog = threading.Timer(400, p.kill)
            watchdog.start()
            out = ""
            for raw in p.stdout:
                out += raw.decode(errors="replace")
                if "SWIFT-VMM-BENCH-RAND:" in out or "SWIFT-VMM-BENCH: no" in out:
                    break
            watchdog.cancel()
            p.kill(); p.wait()
            seq = re.search(r"SWIFT-VMM-BENCH-SEQ: bytes=(\d+) us=(\d+)", out)
            rnd = re.search(r"SWIFT-VMM-BENCH-RAND: reads=(\d+) us=(\d+)", out)
            if not seq or not rnd:
                raise RuntimeError(f"{k}: no benchmark lines in the guest's output: {out[-1500:]}")
            result[k] = {"seq_read_mib_s": round(int(seq[1]) / (1 << 20) / (int(seq[2]) / 1e6), 1),
                         "rand_read_iops": round(int(rnd[1]) / (int(rnd[2]) / 1e6))}
    finally:
        os.unlink(disk)
    return result

def first_line(vmm, kernel, rounds):
    cmdline = "console=ttyS0 earlyprintk=ttyS0 mitigations=off nokaslr acpi=off"
    cmds = {"vmm": [vmm, "run", "--kernel", kernel, "--memory", "256", "--serial-input", "none",
                    "--cpu-template", "nested-emulator", "--cmdline", cmdline],
            "qemu": QEMU + ["-m", "256", "-kernel", kernel, "-append", cmdline + " noxsave clearcpuid=popcnt,smap"]}
    return {k: v * 1000 for k, v in time_until(cmds, b"Linux version", rounds).items()}

def chart(results, path):
    rows = [("first instruction (ms)", results["first_instruction_ms"]),
            ("VMM memory overhead (MiB)", {k: v["overhead_mib"] for k, v in results["memory"].items()})]
    if "launch_first_instruction_ms" in results:
        rows.append(("vmm launch vs vmm run, first instruction (ms)",
                     {k: v for k, v in results["launch_first_instruction_ms"].items() if k != "namespace"}))
        rows.append(("launcher memory overhead (MiB; KubeVirt: published, fixed)",
                     {"launch": results["launch_memory"]["overhead_mib"], "kubevirt": KUBEVIRT_FIXED_OVERHEAD_MIB}))
    if "linux_memory" in results:
        rows.append(("VMM memory overhead, Linux idle at /init (MiB)",
                     {k: v["overhead_mib"] for k, v in results["linux_memory"].items()}))
    if "linux_userspace_s" in results:
        rows.append(("Linux to /init (s)", results["linux_userspace_s"]))
    if "stock_first_line_ms" in results:
        rows.append(("stock kernel, first log line (ms)", results["stock_first_line_ms"]))
    w, bar, gap = 640, 22, 92
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{len(rows) * gap + 20}" font-family="sans-serif" font-size="12">']
    for i, (title, vals) in enumerate(rows):
        y = 20 + i * gap
        svg.append(f'<text x="10" y="{y}">{title}</text>')
        top = max(vals.values()) or 1
        for j, (k, v) in enumerate(sorted(vals.items(), reverse=True)):
            length = 420 * v / top
            color = "#2b7bb9" if k in ("vmm", "launch") else "#999999"
            svg.append(f'<text x="10" y="{y + 18 + j * bar}">{k}</text>')
            svg.append(f'<rect x="80" y="{y + 6 + j * bar}" width="{length:.1f}" height="16" fill="{color}"/>')
            svg.append(f'<text x="{86 + length:.1f}" y="{y + 18 + j * bar}">{v:.2f}</text>')
    svg.append("</svg>")
    open(path, "w").write("\n".join(svg))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--linux", action="store_true", help="also time Linux to /init (about 45 s a boot)")
    ap.add_argument("--linux-rounds", type=int, default=1)
    ap.add_argument("--virtio", action="store_true", help="also time virtio-blk reads inside Linux, vmm vs QEMU (two boots)")
    ap.add_argument("--out", default=os.path.join(ROOT, "Benchmarks/boot/results"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    guests = tempfile.mkdtemp(prefix="vmm-bench-guests-")
    vmm = build(guests)
    results = {"host": os.uname().release, "command": " ".join(sys.argv)}
    fi, fx = first_instruction(vmm, guests, a.rounds)
    results["first_instruction_ms"] = {k: round(v, 2) for k, v in fi.items()}
    results["first_instruction_to_exit_ms"] = {k: round(v, 2) for k, v in fx.items()}
    print(f"first instruction: vmm {fi['vmm']:.2f} ms, qemu {fi['qemu']:.2f} ms, "
          f"ratio {fi['vmm'] / fi['qemu']:.3f} (target <= 0.2)")
    print(f"  to process exit (VM teardown included): vmm {fx['vmm']:.2f} ms, qemu {fx['qemu']:.2f} ms, "
          f"ratio {fx['vmm'] / fx['qemu']:.3f}")
    mem = memory(vmm, guests, settle=1.0)
    results["memory"] = mem
    print(f"memory overhead (128 MiB guest, idle probe): vmm {mem['vmm']['overhead_mib']:.2f} MiB "
          f"(target <= 5; anonymous {mem['vmm']['anonymous_overhead_mib']:.2f}), "
          f"with --keep-startup-pages {mem['vmm-keep']['overhead_mib']:.2f} MiB, qemu {mem['qemu']['overhead_mib']:.2f} MiB")
    run = launcher_run_dir(guests)
    lfi = launch_first_instruction(vmm, guests, run, a.rounds)
    results["launch_first_instruction_ms"] = {k: round(v, 2) for k, v in lfi.items()}
    print(f"launcher first instruction: launch {lfi['launch']:.2f} ms, run {lfi['run']:.2f} ms, "
          f"difference {lfi['launch'] - lfi['run']:.2f} ms (of which the mount-namespace wrapper {lfi['namespace']:.2f} ms)")
    lm = launch_memory(vmm, run, settle=1.0)
    results["launch_memory"] = lm
    results["kubevirt_fixed_overhead_mib"] = KUBEVIRT_FIXED_OVERHEAD_MIB
    print(f"launcher memory overhead (128 MiB guest, idle): {lm['overhead_mib']:.2f} MiB (target <= 10; "
          f"KubeVirt's virt-launcher pod: {KUBEVIRT_FIXED_OVERHEAD_MIB} MiB fixed)")
    shutil.rmtree(run)
    if a.linux or a.virtio:
        kernel = os.path.join(ROOT, "..", "shared", "guest-kernel", "vmlinux")
        init = os.path.join(guests, "init")
        sh(["gcc", "-static", "-Os", "-o", init, os.path.join(ROOT, "guests/linux/init.c")])
        initrd = os.path.join(guests, "initrd.cpio")
        sh([sys.executable, os.path.join(ROOT, "scripts/mkinitramfs.py"), initrd, "--dir", "/dev",
            "--char", "/dev/console=5:1", "--file", f"/init={init}"])
    if a.virtio:
        vb = virtio_blk_in_linux(vmm, kernel, initrd)
        results["virtio_blk_in_linux"] = vb
        print(f"virtio-blk in Linux, 64 KiB O_DIRECT reads: vmm {vb['vmm']['seq_read_mib_s']} MiB/s, "
              f"qemu {vb['qemu']['seq_read_mib_s']} MiB/s, ratio {vb['vmm']['seq_read_mib_s'] / vb['qemu']['seq_read_mib_s']:.3f}")
        print(f"virtio-blk in Linux, random 4 KiB O_DIRECT reads: vmm {vb['vmm']['rand_read_iops']} IOPS, "
              f"qemu {vb['qemu']['rand_read_iops']} IOPS, ratio {vb['vmm']['rand_read_iops'] / vb['qemu']['rand_read_iops']:.3f}")
    if a.linux:
        lm = linux_memory(vmm, kernel, initrd, settle=2.0)
        results["linux_memory"] = lm
        print(f"memory overhead (128 MiB, Linux idle at /init): vmm {lm['vmm']['overhead_mib']:.2f} MiB "
              f"(anonymous {lm['vmm']['anonymous_overhead_mib']:.2f}), with --keep-startup-pages "
              f"{lm['vmm-keep']['overhead_mib']:.2f} MiB, qemu {lm['qemu']['overhead_mib']:.2f} MiB")
        lu = linux_userspace(vmm, kernel, initrd, a.linux_rounds)
        results["linux_userspace_s"] = {k: round(v, 2) for k, v in lu.items()}
        print(f"Linux to /init: vmm {lu['vmm']:.1f} s, qemu {lu['qemu']:.1f} s, ratio {lu['vmm'] / lu['qemu']:.3f}")
        stock = subprocess.run(["bash", os.path.join(ROOT, "scripts/fetch-stock-kernel.sh")], check=True,
                               capture_output=True, text=True, cwd=ROOT).stdout.strip().splitlines()[-1]
        fl = first_line(vmm, os.path.join(ROOT, stock), max(a.linux_rounds, 3))
        results["stock_first_line_ms"] = {k: round(v, 1) for k, v in fl.items()}
        print(f"stock kernel first line: vmm {fl['vmm']:.1f} ms, qemu {fl['qemu']:.1f} ms, ratio {fl['vmm'] / fl['qemu']:.3f}")
    json.dump(results, open(os.path.join(a.out, "results.json"), "w"), indent=2)
    chart(results, os.path.join(a.out, "chart.svg"))
    print(f"wrote {a.out}/results.json and chart.svg; reproduce with: python3 Benchmarks/boot/boottime.py")

if __name__ == "__main__":
    main()
