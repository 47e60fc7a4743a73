// Joins a virtio-net device to its tap and the event loop: the tap's readability drives the
// device's receive path, and the device's back-pressure (no RX buffers in the guest) takes the tap
// off the loop until the driver posts more, so a level-triggered epoll never spins on it.
import KVMCore
import Logging
import VirtioDevices

final class VirtioNetLink: Sendable {
    let device: VirtioNet
    let backend: TapBackend

    init(device: VirtioNet, backend: TapBackend, loop: EventLoop, logger: Logger) throws(KVMError) {
        self.device = device
        self.backend = backend
        let fd = backend.fileDescriptor
        try loop.add(fd) { [weak device] in device?.backendReadable() }
        // Starts paused: the device switches reads on once a driver has activated it.
        device.setReceiveInterest { [weak loop] on in
            do { try loop?.setWatching(fd, on) } catch {
                logger.error("virtio-net \(backend.name): cannot \(on ? "resume" : "pause") tap reads: \(error)")
            }
        }
    }

    /// A virtio-net device over the configured tap, logging drops through `logger`.
    static func makeDevice(_ net: NetConfiguration, index: Int, logger: Logger) throws(MachineError) -> (VirtioNet, TapBackend) {
        let backend: TapBackend
        do {
            switch net.tap {
            case let .name(name): backend = try TapBackend(name: name)
            case let .fileDescriptor(fd): backend = try TapBackend(adopting: fd)
            }
        } catch {
            throw .invalidConfiguration(field: "net[\(index)]", expected: "a usable tap (\(net.tap)): \(error)")
        }
        let mac = net.mac ?? MACAddress.random()
        let device = VirtioNet(backend: backend, mac: mac, log: { line in logger.warning("\(line) [\(backend.name)]") })
        logger.info("virtio-net", metadata: ["tap": "\(backend.name)", "mac": "\(mac)",
                                             "rx-offloads": "\(backend.receiveOffloads)"])
        return (device, backend)
    }
}
