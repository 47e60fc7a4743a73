import BootLoader
import GuestMemory
import Testing

@Suite struct LinuxBootParamsTests {
    /// boot_params for an ELF kernel (no setup header): every field at its zero-page.rst offset.
    @Test func synthesizedHeaderFieldsAtDocumentedOffsets() throws {
        var params = LinuxBootParams()
        params.commandLine = GuestAddress(0x2_0000)
        params.ramdisk = GuestRange(start: GuestAddress(0xF00_0000), length: 0x12_3456)
        params.acpiRSDP = GuestAddress(0xE_0000)
        params.e820 = E820Map(ramRegions: [GuestRange(start: GuestAddress(0), length: mib(256))!])
        let page = try params.bytes()
        #expect(page.count == 4096)
        #expect(le(page, 0x1FE, as: UInt16.self) == 0xAA55)               // boot_flag
        #expect(le(page, 0x202, as: UInt32.self) == 0x5372_6448)          // "HdrS"
        #expect(Array(page[0x202..<0x206]) == Array("HdrS".utf8))
        #expect(le(page, 0x206, as: UInt16.self) == 0x020C)               // version
        #expect(page[0x210] == 0xFF)                                       // type_of_loader
        #expect(page[0x211] == 0x81)                                       // LOADED_HIGH | CAN_USE_HEAP
        #expect(le(page, 0x224, as: UInt16.self) == 0xFE00)               // heap_end_ptr
        #expect(le(page, 0x228, as: UInt32.self) == 0x2_0000)             // cmd_line_ptr
        #expect(le(page, 0x0C8, as: UInt32.self) == 0)                    // ext_cmd_line_ptr
        #expect(le(page, 0x218, as: UInt32.self) == 0xF00_0000)           // ramdisk_image
        #expect(le(page, 0x21C, as: UInt32.self) == 0x12_3456)            // ramdisk_size
        #expect(le(page, 0x0C0, as: UInt32.self) == 0)                    // ext_ramdisk_image
        #expect(le(page, 0x0C4, as: UInt32.self) == 0)                    // ext_ramdisk_size
        #expect(le(page, 0x230, as: UInt32.self) == 0x20_0000)            // kernel_alignment
        #expect(le(page, 0x238, as: UInt32.self) == 2047)                 // cmdline_size
        #expect(le(page, 0x1FA, as: UInt16.self) == 0xFFFF)               // vid_mode
        #expect(le(page, 0x070, as: UInt64.self) == 0xE_0000)             // acpi_rsdp_addr
        #expect(page[0x1EF] == 0)                                          // sentinel
        #expect(page[0x1E8] == 2)                                          // e820_entries
        // e820_table[0] and [1], 20 bytes each from 0x2D0.
        #expect(le(page, 0x2D0, as: UInt64.self) == 0)
        #expect(le(page, 0x2D8, as: UInt64.self) == 0x9_FC00)
        #expect(le(page, 0x2E0, as: UInt32.self) == 1)
        #expect(le(page, 0x2E4, as: UInt64.self) == 0x10_0000)
        #expect(le(page, 0x2EC, as: UInt64.self) == mib(255))
        #expect(le(page, 0x2F4, as: UInt32.self) == 1)
        #expect(page[0x2F8..<0x1000].allSatisfy { $0 == 0 })
    }

    @Test func addressesAbove4GiBUseExtFields() throws {
        var params = LinuxBootParams()
        params.commandLine = GuestAddress(0x1_2345_6000)
        params.ramdisk = GuestRange(start: GuestAddress(0x2_0000_1000), length: 0x3_0000_0010)
        let page = try params.bytes()
        #expect(le(page, 0x228, as: UInt32.self) == 0x2345_6000)
        #expect(le(page, 0x0C8, as: UInt32.self) == 0x1)
        #expect(le(page, 0x218, as: UInt32.self) == 0x1000)
        #expect(le(page, 0x0C0, as: UInt32.self) == 0x2)
        #expect(le(page, 0x21C, as: UInt32.self) == 0x10)
        #expect(le(page, 0x0C4, as: UInt32.self) == 0x3)
    }

    @Test func copiedSetupHeaderKeepsKernelFieldsAndOverridesLoaderOnes() throws {
        let file = BzImageBuilder().build()
        var params = LinuxBootParams()
        params.setupHeader = Array(file[0x1F1..<0x268])
        params.commandLine = GuestAddress(0x2_0000)
        let page = try params.bytes()
        #expect(page[0x1F1] == 3)                                          // setup_sects (kernel's)
        #expect(le(page, 0x206, as: UInt16.self) == 0x020F)               // version (kernel's)
        #expect(le(page, 0x230, as: UInt32.self) == 0x20_0000)            // kernel_alignment (kernel's)
        #expect(le(page, 0x236, as: UInt16.self) == 0x3)                  // xloadflags (kernel's)
        #expect(le(page, 0x260, as: UInt32.self) == 0x80_0000)            // init_size (kernel's)
        #expect(page[0x210] == 0xFF)
        #expect(page[0x211] == 0x81)                                       // kernel's LOADED_HIGH + CAN_USE_HEAP
        #expect(le(page, 0x224, as: UInt16.self) == 0xFE00)
        #expect(le(page, 0x228, as: UInt32.self) == 0x2_0000)
        #expect(page[0x268..<0x1000].allSatisfy { $0 == 0 })                 // nothing past the header
    }

    @Test func tooManyE820EntriesIsAnError() {
        var map = E820Map()
        for i in 0..<129 { map.addReserved(GuestRange(start: GuestAddress(UInt64(i) * 0x2000), length: 0x1000)!) }
        var params = LinuxBootParams()
        params.e820 = map
        #expect(throws: LinuxLoadError.tooManyE820Entries(count: 129, limit: 128)) { try params.bytes() }
    }

    @Test func writeFillsWholePage() throws {
        let memory = try GuestMemoryMap.anonymous(size: mib(2))
        try memory.fill(0xAB, count: 0x1000, at: GuestAddress(0x7000))
        try LinuxBootParams().write(to: memory, at: GuestAddress(0x7000))
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x7000)) == 0)
        #expect(try memory.load(UInt16.self, at: GuestAddress(0x71FE)) == 0xAA55)
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x7FFF)) == 0)
    }
}
