// Giving back the pages of code that only ran at start-up. By the time the vCPUs run, the VMM has
// parsed its arguments (ArgumentParser), maybe a VMI (Yams, Foundation), and loaded the guest:
// megabytes of text and read-only data that stay mapped, and counted in the resident set, for the
// VM's whole life although the steady state (KVM_RUN exits, the epoll loop, device emulation)
// touches a small part of them. Dropping this process's mappings of those pages (CKVM's
// ckvm_release_readonly_file_pages: read-only private file mappings only, never a copy-on-write
// page) leaves the page cache as it was, so what is needed again maps back from it (a minor fault).
// The heap is trimmed at the same moment: what start-up freed goes back to the kernel.
import CKVM
import SystemPackage

public enum StartupPages {
    /// Returns the heap's free memory to the kernel (malloc_trim), then releases the resident
    /// read-only file pages of this process; the file bytes released.
    public static func release() -> Result<Int, Errno> {
        _ = ckvm_trim_heap()
        let r = ckvm_release_readonly_file_pages()
        return r < 0 ? .failure(Errno(rawValue: Int32(-r))) : .success(r)
    }
}
