// `vmm launch` end to end: a KubeVirt VMI with kernelBoot, a containerDisk, a cloudInitNoCloud
// volume, an emptyDisk, a masquerade-bound pod network and rng, run by the real binary inside a
// network namespace this test creates as "the pod" (eth0 a veth to a second namespace, "the
// outside world") and a private mount namespace whose /run is a test folder, so KubeVirt's in-pod
// paths (/var/run/kubevirt/...) are the test's files. The guest checks its disks, reaches the
// outside through the masquerade NAT, then waits for the ACPI power button: the test sends SIGTERM,
// the launcher presses the button (--shutdown auto), reports Succeeded and removes the pod network.
// An extension of LinuxBootTests so it joins that serialized suite (one Linux boot at a time).
import Foundation
import Testing

extension LinuxBootTests {
    @Test(.timeLimit(.minutes(8)), .enabled(if: NetHost.available && NetHost.which("nft") != nil, NetHost.comment))
    func vmmLaunchRunsAVMIInAPodAndShutsItDownOnSIGTERM() throws {
        let kernelPath = guestKernelPath()
        guard FileManager.default.fileExists(atPath: kernelPath) else {
            Issue.record("guest kernel missing at \(kernelPath): build it with guest-kernel/build.sh")
            return
        }
        // The pod and the outside world, joined by a veth: pod eth0 10.99.7.2/24, outside 10.99.7.1.
        let pod = try TestNetworkNamespace(prefix: "svmm-pod")
        let outside = try TestNetworkNamespace(prefix: "svmm-out")
        let veth = "svo\(getpid() % 100_000)"
        try NetHost.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod.name])
        try NetHost.run(["ip", "link", "set", veth, "netns", outside.name])
        try outside.exec(["ip", "addr", "add", "10.99.7.1/24", "dev", veth])
        try outside.exec(["ip", "link", "set", veth, "up"])
        try pod.exec(["ip", "addr", "add", "10.99.7.2/24", "dev", "eth0"])
        try pod.exec(["ip", "link", "set", "eth0", "up"])
        try pod.exec(["ip", "route", "add", "default", "via", "10.99.7.1"])

        // The pod's /run: the kernel-boot artifacts and the container disk where KubeVirt puts them.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-launch-test-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run")
        let kernelBoot = run.appendingPathComponent("kubevirt/container-disks/kernel-boot")
        try FileManager.default.createDirectory(at: kernelBoot, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: kernelPath, toPath: kernelBoot.appendingPathComponent("vmlinux").path)
        try Data(try buildTestInitramfs(busybox: true)).write(to: kernelBoot.appendingPathComponent("initrd.cpio"))
        // The pod's resolv.conf (`ip netns exec` mounts /etc/netns/<name>/* over /etc): the DNS
        // server the launcher's DHCP server must hand out.
        let etc = URL(fileURLWithPath: "/etc/netns/\(pod.name)")
        try FileManager.default.createDirectory(at: etc, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: etc) }
        try "nameserver 10.96.0.10\nsearch tests.svc.cluster.local\n".write(
            to: etc.appendingPathComponent("resolv.conf"), atomically: true, encoding: .utf8)
        let base = run.appendingPathComponent("kubevirt/container-disks/disk_0.img")
        var baseImage = Data("SWIFT-VMM-CONTAINER-DISK".utf8)
        baseImage.append(Data(count: (4 << 20) - baseImage.count))
        try baseImage.write(to: base)
        let vmi = dir.appendingPathComponent("vmi.yaml"), status = dir.appendingPathComponent("status.json")
        try """
            apiVersion: kubevirt.io/v1
            kind: VirtualMachineInstance
            metadata:
              name: launch-test
              namespace: tests
            spec:
              terminationGracePeriodSeconds: 120
              domain:
                cpu:
                  cores: 1
                memory:
                  guest: 256Mi
                firmware:
                  kernelBoot:
                    container:
                      image: example.org/kernel-boot
                      kernelPath: /boot/vmlinux
                      initrdPath: /boot/initrd.cpio
                    kernelArgs: console=ttyS0 mitigations=off panic=-1 swifttest_launch=1 swifttest_net=dhcp swifttest_net_server=10.99.7.1 swifttest_net_bytes=65536 swifttest_end=button
                devices:
                  disks:
                  - name: containerdisk
                    disk:
                      bus: virtio
                  - name: cloudinit
                    disk:
                      bus: virtio
                  - name: scratch
                    disk:
                      bus: virtio
                  interfaces:
                  - name: default
                    masquerade: {}
                  rng: {}
              networks:
              - name: default
                pod: {}
              volumes:
              - name: containerdisk
                containerDisk:
                  image: example.org/disk
              - name: cloudinit
                cloudInitNoCloud:
                  userData: |
                    #cloud-config
                    password: test
              - name: scratch
                emptyDisk:
                  capacity: 64Mi
            """.write(to: vmi, atomically: true, encoding: .utf8)

        // The outside world's server: what the guest sends (through the NAT), then 64 KiB back.
        let (server, serverOutput) = try outside.start(["python3", "-u", "-c", """
            import random, socket, zlib
            srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(('10.99.7.1', 5201)); srv.listen(1); srv.settimeout(400); print('READY')
            c, peer = srv.accept(); c.settimeout(180)
            print(f'SERVER-PEER: {peer[0]}')
            crc, got = 0, 0
            while True:
                b = c.recv(1 << 16)
                if not b: break
                crc, got = zlib.crc32(b, crc), got + len(b)
            print(f'SERVER-RX: bytes={got} crc={crc:08x}')
            data = random.Random(1).randbytes(65536)
            c.sendall(data); c.close()
            print(f'SERVER-TX: bytes=65536 crc={zlib.crc32(data):08x}')
            """])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        #expect(readLine(from: serverOutput) { $0 == "READY" } != nil)

        let launcher = Process()
        launcher.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // Each step execs the next (ip netns exec, unshare, sh), so the process is vmm itself and
        // gets the SIGTERM. (No `timeout` wrapper: it would inherit this thread's blocked signals
        // and never pass SIGTERM on; the waits below are bounded instead.)
        launcher.arguments = ["ip", "netns", "exec", pod.name,
                              "unshare", "--mount", "--propagation", "private", "sh", "-c",
                              "mount --bind \"$0\" /run && exec \"$1\" launch --vmi \"$2\" --status-file \"$3\" --cpu-template nested-emulator",
                              run.path, try vmmPath(), vmi.path, status.path]
        // stderr to a file: a pipe nobody reads until the end could fill up and stall the launcher.
        let stderrFile = dir.appendingPathComponent("stderr.txt")
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        let stdoutFile = dir.appendingPathComponent("stdout.txt")
        _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        let out = try FileHandle(forWritingTo: stdoutFile), err = try FileHandle(forWritingTo: stderrFile)
        launcher.standardOutput = out
        launcher.standardError = err
        launcher.standardInput = FileHandle.nullDevice
        try launcher.run()
        defer { if launcher.isRunning { kill(launcher.processIdentifier, SIGKILL) } }
        // The console log is polled (a file, as `kubectl logs` would read it).
        func waitFor(_ marker: String) -> String {
            var text = ""
            for _ in 0..<420 where launcher.isRunning {
                text = (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? ""
                if text.contains(marker) || text.contains("SWIFT-VMM-WAITING-FOR-POWER-BUTTON") { break }
                sleep(1)
            }
            return text
        }
        // Inbound: a client outside connects to the pod's IP; the DNAT takes it to the guest.
        var inbound = ""
        if waitFor("SWIFT-VMM-NET-LISTENING").contains("SWIFT-VMM-NET-LISTENING") {
            inbound = try outside.exec(["python3", "-c", """
                import random, socket, zlib
                data = random.Random(2).randbytes(65536)
                c = socket.create_connection(('10.99.7.2', 8080), timeout=120)
                c.sendall(data); c.shutdown(socket.SHUT_WR)
                reply = b''
                while True:
                    b = c.recv(4096)
                    if not b: break
                    reply += b
                print(f'CLIENT-TX: bytes={len(data)} crc={zlib.crc32(data):08x}')
                print('CLIENT-REPLY: ' + reply.decode().strip())
                """])
        }
        let before = waitFor("SWIFT-VMM-WAITING-FOR-POWER-BUTTON")
        guard before.contains("SWIFT-VMM-WAITING-FOR-POWER-BUTTON") else {
            Issue.record("the guest never reached its wait: \(before.suffix(3000)) \((try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "")")
            return
        }
        #expect(try String(contentsOf: status, encoding: .utf8).contains("\"phase\": \"Running\""))
        // The pod network while it runs: KubeVirt's bridge and tap, and the NAT table.
        #expect(try pod.exec(["ip", "-o", "link", "show", "k6t-eth0"]).contains("k6t-eth0"))
        #expect(try pod.exec(["ip", "-o", "link", "show", "tap0"]).contains("master k6t-eth0"))

        // The disks, as the guest saw them.
        #expect(before.contains("SWIFT-VMM-LAUNCH-VDA: SWIFT-VMM-CONTAINER-DISK"), "\(before.suffix(3000))")
        #expect(before.contains("SWIFT-VMM-LAUNCH-VDA-WRITE: ok"))
        #expect(before.contains("SWIFT-VMM-LAUNCH-VDB: label=cidata user-data=yes"))
        #expect(before.contains("SWIFT-VMM-LAUNCH-VDC: \(64 << 20)"))
        // The network: busybox udhcpc got KubeVirt's masquerade lease from the launcher's DHCP server,
        // the bridge answers, the outside is reached through the NAT, and the guest through the DNAT.
        #expect(before.contains("SWIFT-VMM-DHCP: ip=10.0.2.2 subnet=255.255.255.0 router=10.0.2.1 mtu=1500 dns=10.96.0.10 configured=yes"),
                "\(before.suffix(2500))")
        #expect(before.contains("SWIFT-VMM-NET-PING: reply from 10.0.2.1"))
        let clientTX = line(inbound, "CLIENT-TX: ")
        #expect(clientTX.hasPrefix("bytes=65536 "), "inbound client: \(inbound)")
        #expect(line(before, "SWIFT-VMM-NET-INBOUND: ") == clientTX, "outside → guest through the pod IP")
        #expect(line(inbound, "CLIENT-REPLY: ") == "GUEST-GOT " + clientTX, "and back")

        // What the kubelet sends.
        kill(launcher.processIdentifier, SIGTERM)
        for _ in 0..<300 where launcher.isRunning { sleep(1) }
        if launcher.isRunning { kill(launcher.processIdentifier, SIGKILL) }
        launcher.waitUntilExit()
        let rest = try String(contentsOf: stdoutFile, encoding: .utf8)
        let stderr = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
        #expect(rest.contains("SWIFT-VMM-GOT-POWER-BUTTON"), "the ACPI power button reached init: \(rest.suffix(2000))")
        #expect(stderr.contains("asking the guest to shut down (the ACPI power button)"), "\(stderr.suffix(2000))")
        #expect(launcher.terminationStatus == 0, "graceful shutdown is a success: \(stderr.suffix(3000))")
        let finalStatus = try String(contentsOf: status, encoding: .utf8)
        #expect(finalStatus.contains("\"phase\": \"Succeeded\"") && finalStatus.contains("SIGTERM"), "\(finalStatus)")

        if server.isRunning { kill(server.processIdentifier, SIGKILL) }   // SIGKILL: children inherit blocked signals
        server.waitUntilExit()
        let serverText = String(decoding: serverOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(line(serverText, "SERVER-PEER: ") == "10.99.7.2", "masqueraded to the pod's address: \(serverText)")
        #expect(line(before, "SWIFT-VMM-NET-TX: ") == line(serverText, "SERVER-RX: "), "guest → outside")
        #expect(line(before, "SWIFT-VMM-NET-RX: ") == line(serverText, "SERVER-TX: "), "outside → guest")

        // The base image is untouched; the guest's write is in the overlay; the network is gone.
        #expect(try Data(contentsOf: base) == baseImage)
        let overlay = run.appendingPathComponent("kubevirt-ephemeral-disks/disk-data/containerdisk/disk.overlay")
        let overlayBytes = try Data(contentsOf: overlay)
        #expect(overlayBytes.range(of: Data("GUEST-WROTE-OVERLAY".utf8)) != nil, "the write went to the overlay")
        #expect((try? pod.exec(["ip", "link", "show", "k6t-eth0"])) == nil, "bridge removed")
        #expect((try? pod.exec(["nft", "list", "table", "ip", "k6t_nat"])) == nil, "NAT table removed")
        #expect(try pod.exec(["ip", "-o", "addr", "show", "eth0"]).contains("10.99.7.2/24"), "eth0 kept its address")
    }
}
