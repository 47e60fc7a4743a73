// Loads a raw image (no headers) at a fixed guest-physical address: real-mode boot sectors, the
// flat test guests. The whole range is checked before anything is written.
import GuestMemory

public enum FlatBinaryLoader {
    /// Copies `image` to guest-physical `address` and returns the range it now occupies.
    public static func load(_ image: [UInt8], at address: GuestAddress,
                            into memory: GuestMemoryMap) throws(ImageLoadError) -> GuestRange {
        guard !image.isEmpty else { throw .emptyImage }
        let length = UInt64(image.count)
        guard let range = GuestRange(start: address, length: length), memory.isValid(range) else {
            throw .imageOutsideMemory(address: address, length: length)
        }
        do {
            try memory.write(image, at: address)
        } catch {
            throw .memory(error)
        }
        return range
    }
}
