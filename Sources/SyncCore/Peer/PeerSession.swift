import Foundation

/// What one session exchanged.
public struct SessionStats: Equatable, Sendable {
    public var peer: ReplicaID?
    public var changesSent = 0
    public var changesReceived = 0
    public var batchesSent = 0
    public var batchesReceived = 0
    public var bytesSent = 0
    public var bytesReceived = 0
    /// The peer's version vector as it sent it at the start of the session.
    public var peerVector = VersionVector()
    /// Sequence numbers (mutations) each side lacked at the start, by the two vectors:
    /// what this session is expected to move. With `sequencesIn`/`sequencesOut` (the
    /// sequence numbers the batches so far covered) this measures progress.
    public var expectedIn: UInt64 = 0
    public var expectedOut: UInt64 = 0
    public var sequencesIn: UInt64 = 0
    public var sequencesOut: UInt64 = 0

    public init() {}
}

/// Settings of a session.
public struct SessionSettings: Sendable {
    public var networkID: String
    public var batchChanges = 5_000
    public var batchBytes = 4 << 20
    /// Batches sent before waiting for the first acknowledgement.
    public var window = 4
    public var handshakeTimeout: Double = 10
    public var readTimeout: Double = 90
    public var maxFrameSize = Frame.defaultMaxSize
    /// Called with the running totals after the vectors are exchanged and after each
    /// batch sent or applied, on the session thread or the store's queue: it must not
    /// block or touch the store.
    public var progress: (@Sendable (SessionStats) -> Void)?

    public init(networkID: String) { self.networkID = networkID }
}

/// One anti-entropy session over a byte stream (Docs/PROTOCOL.md §3–§5): handshake,
/// vector exchange, then the connecting side sends what the other lacks, then the other
/// side does the same. Blocking: run it on a thread of its own.
///
/// While receiving, a batch is applied on the store's queue while the session thread
/// reads and decodes the next one; the store queue sends the ACK once the batch has
/// committed.
public final class PeerSession: @unchecked Sendable {
    // @unchecked: `decoder`, `nextBatchID` and `peerMaxFrameSize` are used by the session
    // thread only (the last is fixed before any work goes to the store queue); `stats`,
    // `applyError` and every write to the stream are guarded by `lock`.
    private let lock = NSLock()
    private var applyError: (any Error)?
    public enum Role: Sendable { case initiator, responder }

    private let stream: ByteStream
    private let replica: ReplicaHandle
    private let settings: SessionSettings
    private let role: Role
    private var decoder: FrameDecoder
    private var stats = SessionStats()
    private var nextBatchID: UInt64 = 1
    /// The largest frame the peer accepts (from its HELLO).
    private var peerMaxFrameSize = Frame.handshakeMaxSize

    /// Why the last batch could not be applied, if it could not (for the daemon's counts:
    /// a clock-skew refusal, a store failure).
    public var applyFailure: (any Error)? { lock.withLock { applyError } }

    public init(stream: ByteStream, replica: ReplicaHandle, settings: SessionSettings, role: Role) {
        self.stream = stream
        self.replica = replica
        self.settings = settings
        self.role = role
        // Until the handshake has succeeded only small frames are accepted, so an
        // unauthenticated client cannot make this side buffer megabytes.
        self.decoder = FrameDecoder(maxFrameSize: min(settings.maxFrameSize, Frame.handshakeMaxSize))
    }

    /// Runs the session to its end. On a protocol error the peer is sent ERROR (when the
    /// connection still allows it) before the error is thrown; the stream is closed
    /// either way.
    public func run() throws -> SessionStats {
        defer { stream.close() }
        do {
            do {
                return try exchange()
            } catch TransportError.timedOut {
                throw ProtocolError(.timeout, "the peer sent nothing for \(Int(settings.readTimeout)) s")
            }
        } catch let error as ProtocolError {
            // Deliver the reason: FIN after the ERROR, then a short drain, so the peer
            // reads it instead of a connection reset.
            if (try? send(Frame(.error, ErrorCodec.encode(error)))) != nil {
                stream.finishWriting()
                try? stream.setTimeout(0.5)
                for _ in 0..<16 { if (try? stream.read(maximum: 64 * 1024))?.isEmpty ?? true { break } }
            }
            throw error
        }
    }

    private func exchange() throws -> SessionStats {
        do {
            try handshake()
            let localVector = replica.with { $0.versionVector }
            try send(Frame(.vector, VectorCodec.encode(localVector)))
            let peerVector = try VectorCodec.decode(try expect(.vector).payload)
            // Before anything is sent or applied: a peer that holds later mutations of this
            // replica than it has means it was restored; it must take a new ID, or its next
            // writes would reuse sequence numbers the peer already has.
            // (The handle's observer logs and counts it.)
            _ = try replica.reincarnateIfBehindItself(peerVector)
            lock.withLock {
                stats.peerVector = peerVector
                stats.expectedIn = localVector.missing(from: peerVector)
                stats.expectedOut = peerVector.missing(from: localVector)
            }
            reportProgress()
            if role == .initiator {
                try sendMissing(peerVector)
                try receiveUntilDone()
            } else {
                try receiveUntilDone()
                try sendMissing(peerVector)
            }
            return lock.withLock { stats }
        }
    }

    private func reportProgress() {
        guard let progress = settings.progress else { return }
        progress(lock.withLock { stats })
    }

    private func handshake() throws {
        try stream.setTimeout(settings.handshakeTimeout)
        let mine = Hello(networkID: settings.networkID, replicaID: replica.replicaID, maxFrameSize: UInt32(settings.maxFrameSize))
        try send(Frame(.hello, mine.encoded()))
        // One deadline for the whole HELLO, not per read: a client trickling bytes
        // cannot hold the connection open.
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(settings.handshakeTimeout * 1e9)
        let first: Frame
        do {
            first = try readFrame(deadline: deadline)
        } catch TransportError.timedOut {
            throw ProtocolError(.timeout, "no HELLO within \(settings.handshakeTimeout) s")
        }
        // A peer that refuses this side says why in an ERROR instead of its HELLO.
        if first.type == .error { throw SessionError.peerClosed(try ErrorCodec.decode(first.payload)) }
        guard first.type == .hello else { throw ProtocolError(.badMagic, "the first frame is not a HELLO") }
        let theirs = try Hello.decode(first.payload)
        _ = try Hello.agreedVersion(mine, theirs)
        guard theirs.networkID == settings.networkID else {
            throw ProtocolError(.wrongNetwork, "the peer is in another network")
        }
        lock.withLock { stats.peer = theirs.replicaID }
        peerMaxFrameSize = min(Int(theirs.maxFrameSize), Frame.defaultMaxSize)
        decoder.maxFrameSize = settings.maxFrameSize
        try stream.setTimeout(settings.readTimeout)
    }

    /// Streams every change the peer lacks, at most `window` batches ahead of the
    /// acknowledgements, then DONE, then waits for the outstanding acknowledgements.
    private func sendMissing(_ peerVector: VersionVector) throws {
        var assumed = peerVector
        var unacknowledged: [UInt64] = []
        while true {
            let batch = try replica.with { try $0.changes(missingFrom: assumed, limit: settings.batchChanges, maxBytes: settings.batchBytes) }
            if batch.isEmpty { break }
            let before = assumed
            for range in batch.ranges where assumed[range.replica] >= range.after {
                assumed[range.replica] = max(assumed[range.replica], range.through)
            }
            let id = nextBatchID
            nextBatchID += 1
            try send(Frame(.batch, BatchCodec.encode(batch, batchID: id)))
            lock.withLock {
                stats.changesSent += batch.changes.count
                stats.batchesSent += 1
                stats.sequencesOut = stats.sequencesOut.addingSaturating(batch.coveredSequences)
            }
            reportProgress()
            unacknowledged.append(id)
            while unacknowledged.count >= max(1, settings.window) { try awaitAck(&unacknowledged) }
            // A batch always advances some range (ReplicaStore.changes); if one did not,
            // sending DONE would claim a completeness this side does not have.
            if assumed == before { throw ProtocolError(.internalError, "the change stream did not advance") }
        }
        try send(Frame(.done))
        while !unacknowledged.isEmpty { try awaitAck(&unacknowledged) }
    }

    private func awaitAck(_ unacknowledged: inout [UInt64]) throws {
        let frame = try expect(.ack)
        let id = try AckCodec.decode(frame.payload)
        guard id == unacknowledged.first else { throw ProtocolError(.unexpectedMessage, "ACK of batch \(id) out of order") }
        unacknowledged.removeFirst()
    }

    /// Applies the peer's batches, acknowledging each, until its DONE.
    private func receiveUntilDone() throws {
        // At most two batches decoded ahead of the one being applied.
        let slots = DispatchSemaphore(value: 2)
        let pending = DispatchGroup()
        defer { pending.wait() }
        func failure() -> (any Error)? {
            switch lock.withLock({ applyError }) {
            case let error as ClockError: return ProtocolError(.changesRefused, error.description)
            case let error as StoreError: return ProtocolError(.changesRefused, error.description)
            case let error?: return error
            case nil: return nil
            }
        }
        while true {
            if let error = failure() { throw error }
            let frame = try nextMessage()
            switch frame.type {
            case .batch:
                let (id, batch) = try BatchCodec.decode(frame.payload)
                slots.wait()
                pending.enter()
                replica.async { [self] store in
                    defer {
                        slots.signal()
                        pending.leave()
                    }
                    guard lock.withLock({ applyError == nil }) else { return }
                    do {
                        try store.apply(batch)
                        lock.withLock {
                            stats.changesReceived += batch.changes.count
                            stats.batchesReceived += 1
                            stats.sequencesIn = stats.sequencesIn.addingSaturating(batch.coveredSequences)
                        }
                        reportProgress()
                        try send(Frame(.ack, AckCodec.encode(batchID: id)))
                    } catch {
                        lock.withLock { if applyError == nil { applyError = error } }
                    }
                }
            case .done:
                pending.wait()
                if let error = failure() { throw error }
                return
            default:
                throw ProtocolError(.unexpectedMessage, "\(frame.type) while receiving changes")
            }
        }
    }

    /// The next frame of type `type` (answering PINGs and skipping optional frames).
    private func expect(_ type: FrameType) throws -> Frame {
        let frame = try nextMessage()
        guard frame.type == type else { throw ProtocolError(.unexpectedMessage, "\(frame.type) where \(type) was expected") }
        return frame
    }

    /// The next frame that needs handling: PING is answered, optional frames skipped,
    /// ERROR from the peer ends the session.
    private func nextMessage() throws -> Frame {
        while true {
            let frame = try readFrame()
            switch frame.type {
            case .ping:
                try send(Frame(.pong, frame.payload))
            case .pong:
                continue
            case .error:
                let peerError = try ErrorCodec.decode(frame.payload)
                throw SessionError.peerClosed(peerError)
            case .hello, .vector, .batch, .ack, .done:
                return frame
            default:
                if frame.type.isOptional { continue }
                throw ProtocolError(.unknownMessage, "required frame type \(frame.type)")
            }
        }
    }

    private func readFrame(deadline: UInt64? = nil) throws -> Frame {
        while true {
            if let frame = try decoder.next() {
                lock.withLock { stats.bytesReceived += frame.payload.count + 5 }
                return frame
            }
            if let deadline {
                let now = DispatchTime.now().uptimeNanoseconds
                guard now < deadline else { throw TransportError.timedOut }
                try stream.setTimeout(max(0.001, Double(deadline - now) / 1e9))
            }
            let bytes = try stream.read(maximum: 64 * 1024)
            if bytes.isEmpty { throw SessionError.connectionClosed }
            decoder.append(bytes)
        }
    }

    private func send(_ frame: Frame) throws {
        let bytes = frame.encoded()
        guard bytes.count - 4 <= peerMaxFrameSize else {
            throw ProtocolError(.internalError, "a \(frame.type) of \(bytes.count) bytes is more than the peer accepts (\(peerMaxFrameSize))")
        }
        try lock.withLock {
            try stream.write(bytes)
            stats.bytesSent += bytes.count
        }
    }
}

/// Why a session ended without a protocol error of our own.
public enum SessionError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The peer closed the connection mid-session.
    case connectionClosed
    /// The peer sent ERROR.
    case peerClosed(ProtocolError)

    public var description: String {
        switch self {
        case .connectionClosed: return "the peer closed the connection mid-session"
        case let .peerClosed(error): return "the peer ended the session: \(error)"
        }
    }
}
