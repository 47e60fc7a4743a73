// Thin typed calls into CKVM's ioctl wrappers, which return the result or -errno.
import CKVM
import SystemPackage

@inline(__always)
func check(_ result: Int32, _ op: KVMOperation) throws(KVMError) -> Int32 {
    if result < 0 { throw KVMError.system(op, errno: Errno(rawValue: -result)) }
    return result
}

@inline(__always)
func ioctlNone(_ fd: FileDescriptor, _ request: UInt, _ op: KVMOperation) throws(KVMError) -> Int32 {
    try check(ckvm_ioctl_none(fd.rawValue, request), op)
}

@inline(__always)
func ioctlValue(_ fd: FileDescriptor, _ request: UInt, _ value: UInt, _ op: KVMOperation) throws(KVMError) -> Int32 {
    try check(ckvm_ioctl_val(fd.rawValue, request, value), op)
}

/// Passes a pointer to `value` for the duration of the call: the kernel reads and/or writes it.
@inline(__always)
@discardableResult
func ioctlPointer<T>(_ fd: FileDescriptor, _ request: UInt, _ value: inout T, _ op: KVMOperation) throws(KVMError) -> Int32 {
    // Sound: the pointer is valid for the duration of withUnsafeMutablePointer, and the request's
    // argument type is T (each caller pairs the request with its documented struct).
    let r = unsafe withUnsafeMutablePointer(to: &value) { p in unsafe ckvm_ioctl_ptr(fd.rawValue, request, p) }
    return try check(r, op)
}

/// Same, for a raw allocation (flexible-array structs allocated by CKVM).
@inline(__always)
@discardableResult
func ioctlRaw(_ fd: FileDescriptor, _ request: UInt, _ pointer: UnsafeMutableRawPointer, _ op: KVMOperation) throws(KVMError) -> Int32 {
    // Sound: callers pass a live CKVM allocation sized for the request's struct and entry count.
    try check(unsafe ckvm_ioctl_ptr(fd.rawValue, request, pointer), op)
}
