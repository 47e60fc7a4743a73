// The request loop every single-queue device runs on a notification: pop each available chain,
// serve it, publish it as used, re-arm notifications and check again (so a chain the driver adds
// while the device is re-arming is not missed), then say whether the driver wants an interrupt.
import GuestMemory

extension Virtqueue {
    /// Serves every available chain with `serve` (which returns the used length). Returns true when
    /// at least one chain was used and the suppression rules ask for an interrupt.
    mutating func serveAll(_ serve: (DescriptorChain) throws(VirtqueueError) -> UInt32) throws(VirtqueueError) -> Bool {
        var added = false
        repeat {
            try disableNotification()
            while let chain = try popAvailable() {
                let written = try serve(chain)
                try addUsed(head: chain.head, length: written)
                added = true
            }
        } while try enableNotification()
        return added ? try needsNotification() : false
    }
}
