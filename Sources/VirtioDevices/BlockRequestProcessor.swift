// Turns one parsed virtio-blk request into a status byte and the bytes to copy back to the guest.
// This is the unit the queue glue calls: it copies the readable buffers out, calls `handle`, copies
// `data` into the writable buffers and puts `status` in the last writable byte.

/// What the device answers. `data` goes to the writable buffers first, `status` last.
public struct BlockResponse: Equatable, Sendable {
    public var data: [UInt8]
    public var status: UInt8
    /// Why the status is not OK, for the glue to log; the guest sees only `status`.
    public var error: BlockError?

    public init(data: [UInt8] = [], status: BlockStatus, error: BlockError? = nil) {
        self.data = data
        self.status = status.rawValue
        self.error = error
    }

    /// Bytes the device wrote: data plus the status byte (the used-ring length).
    public var writtenLength: Int { data.count + 1 }
}

public struct BlockRequestProcessor: Sendable {
    public let backend: any BlockBackend
    public let config: BlockConfig

    public init(backend: any BlockBackend, config: BlockConfig? = nil) {
        self.backend = backend
        self.config = config ?? BlockConfig(backend: backend)
    }

    /// Handles a request whose header and readable data are still in one byte array, as when a
    /// driver puts them in one descriptor. A header too short to parse is IOERR.
    public func handle(request: [UInt8], writableCapacity: Int) -> BlockResponse {
        switch BlockRequestHeader.parse(request) {
        case .success(let header):
            return handle(header: header, readable: Array(request.dropFirst(BlockRequestHeader.size)),
                          writableCapacity: writableCapacity)
        case .failure(let error):
            return BlockResponse(status: .ioError, error: error)
        }
    }

    /// - Parameters:
    ///   - readable: the request's device-readable bytes after the header (OUT data or segments).
    ///   - writableCapacity: total bytes of the device-writable buffers, status byte included.
    public func handle(header: BlockRequestHeader, readable: [UInt8], writableCapacity: Int) -> BlockResponse {
        // The status byte needs somewhere to go; without it the request is answered IOERR and the glue
        // decides what it can still report.
        guard writableCapacity >= 1 else { return failed(.noStatusByte) }
        let dataCapacity = writableCapacity - 1
        switch header.type {
        case .read:
            guard dataCapacity <= config.maxTransferBytes else { return failed(.transferTooLong(dataCapacity)) }
            return answer(backend.read(sector: header.sector, count: dataCapacity))
        case .write:
            guard readable.count <= config.maxTransferBytes else { return failed(.transferTooLong(readable.count)) }
            return answer(backend.write(sector: header.sector, bytes: readable).map { [] })
        case .flush:
            return answer(backend.flush().map { [] })
        case .getID:
            // A smaller buffer gets the first bytes of the ID, as QEMU does.
            return BlockResponse(data: Array(backend.id.prefix(dataCapacity)), status: .ok)
        case .discard:
            return discardOrZero(readable, isDiscard: true)
        case .writeZeroes:
            return discardOrZero(readable, isDiscard: false)
        case .unknown:
            return BlockResponse(status: .unsupported)
        }
    }

    private func discardOrZero(_ readable: [UInt8], isDiscard: Bool) -> BlockResponse {
        let segments: [BlockDiscardSegment]
        switch BlockDiscardSegment.parseList(readable) {
        case .success(let parsed): segments = parsed
        case .failure(let error): return failed(error)
        }
        let maxSegments = isDiscard ? config.maxDiscardSegments : config.maxWriteZeroesSegments
        let maxSectors = isDiscard ? config.maxDiscardSectors : config.maxWriteZeroesSectors
        guard segments.count <= Int(maxSegments) else { return failed(.tooManySegments(segments.count)) }
        for segment in segments {
            // 5.2.6.2: UNSUPP for unknown flags, and for the unmap flag on a discard.
            if segment.unknownFlags != 0 || (isDiscard && segment.unmap) {
                return BlockResponse(status: .unsupported)
            }
            guard segment.sectorCount <= maxSectors else { return failed(.segmentTooLong(segment.sectorCount)) }
        }
        let result = isDiscard ? backend.discard(segments: segments) : backend.writeZeroes(segments: segments)
        return answer(result.map { [] })
    }

    private func answer(_ result: Result<[UInt8], BlockError>) -> BlockResponse {
        switch result {
        case .success(let data): BlockResponse(data: data, status: .ok)
        case .failure(let error): failed(error)
        }
    }

    private func failed(_ error: BlockError) -> BlockResponse {
        BlockResponse(status: .ioError, error: error)
    }
}
