import Foundation
import SyncCore
import Synchronization

/// Offline bundles (Docs/CONTROL.md `bundle_*`, the format in PROTOCOL §8): the daemon
/// signs, encrypts and decrypts, since only it may read the identity key; kmctl carries
/// the bytes to and from the file, as binary pieces (a line `@N`, then N bytes). As with export and import, no store
/// job ever waits on this socket.
extension ControlConnection {

    /// `bundle_vector`: this replica's vector and certificate, signed.
    func bundleVector() throws -> BundleVectorAnswer {
        let identity = presentedIdentity
        var writer = try BundleWriter(header: newHeader(.vector, vector: nationalVector()), identity: identity, recipientCertificateDER: nil)
        let bytes = writer.start() + (try writer.finish(BundleTrailer()))
        return BundleVectorAnswer(file: Data(bytes).base64EncodedString())
    }

    /// The identity files are made and signed with: the one links present — during a
    /// rotation's grace period the previous one, so peers that approved only it keep
    /// exchanging (SECURITY.md, rotating a key). Bundles for either are opened.
    private var presentedIdentity: NodeIdentity {
        daemon.identities.presented(now: Int64(SystemClock().nowMilliseconds()))
    }

    private func newHeader(_ kind: BundleHeader.Kind, vector: VersionVector, base: VersionVector? = nil) -> BundleHeader {
        BundleHeader(kind: kind, createdAtMs: Int64(SystemClock().nowMilliseconds()), senderReplica: daemon.replica.replicaID.description,
                     senderName: daemon.state.withLock { $0.config.name }, senderVector: BundleFormat.encode(vector), baseVector: base.map(BundleFormat.encode))
    }

    /// This replica's vector over national streams: bundles carry national records only
    /// (DATA-MODEL §14.6), so no scoped stream is named in a file that may be found on a stick.
    func nationalVector() -> VersionVector {
        // The vector first, then the directory, which is never behind it.
        let vector = daemon.replica.with { $0.versionVector }
        return daemon.replica.currentStreams.restrict(vector, to: [.national])
    }

    /// The approved peer a selector names: a whole peer ID, or a prefix of one (≥ 7 characters) that is unique.
    func approvedPeer(_ selector: String) throws -> PeerID {
        let approved = daemon.state.withLock { $0.approved }
        if let id = try? PeerID(parsing: selector) {
            guard approved.contains(id) else { throw ControlFailure(message: "\(id.short) is not an approved peer here (see 'kmctl peer list')", exitCode: .usage) }
            return id
        }
        let wanted = selector.uppercased().replacingOccurrences(of: "-", with: "")
        let matches = approved.filter { $0.description.replacingOccurrences(of: "-", with: "").hasPrefix(wanted) }
        guard wanted.count >= 7, matches.count == 1, let id = matches.first else {
            throw ControlFailure(message: matches.count > 1 ? "peer \(selector.prefix(60)) is ambiguous: give more of its ID"
                                 : "no approved peer matches \(selector.prefix(60)) (a peer ID or at least its first 7 characters; see 'kmctl peer list')",
                                 exitCode: .usage)
        }
        return id
    }

    /// `bundle_create`: the first line answers `BundleCreateStartAnswer`; then the bundle
    /// as binary pieces; then an empty line and `BundleCreateEndAnswer`.
    func bundleCreateStream(_ request: BundleCreateRequest) {
        let audited = ControlRequest.bundleCreate(request)
        var started = false
        do {
            let recipient = try approvedPeer(request.peer)
            let now = Int64(SystemClock().nowMilliseconds())
            let link = daemon.state.withLock { $0.links[recipient] }.flatMap { $0.isEstablished ? $0 : nil }
            var base: VersionVector
            var source: String
            let certificate: [UInt8]
            if let encoded = request.sinceVector {
                guard let bytes = Data(base64Encoded: encoded) else { throw ControlFailure.usage("\"since_vector\" must be a vector file in base64") }
                let file = try VectorFile.read(Array(bytes), from: recipient)
                try daemon.replica.with {
                    // Dated by the peer's clock, never later than this one's: a clock far ahead
                    // must not outrank every statement to come.
                    try $0.noteBundlePeer(recipient, certificateDER: file.certificate, statement: (file.replica, file.vector, min(file.createdAtMs, now)), source: .vectorFile)
                }
                // The peer's own statement, as it made it: exact, not merged with older knowledge.
                (base, source, certificate) = (file.vector, BundlePeer.Source.vectorFile.rawValue, file.certificate)
            } else {
                guard let known = try daemon.replica.with({ try $0.bundlePeer(recipient) }) else {
                    throw ControlFailure(message: "this replica has no certificate of peer \(recipient.short) to encrypt to: ask its admin for a vector file "
                                         + "('kmctl bundle create --vector FILE') and give it with --since-vector FILE, or link the two over the network once",
                                         exitCode: .failure)
                }
                // A live link's view of the peer is the newest statement there is.
                if let link {
                    (base, source, certificate) = (link.peerVector, BundlePeer.Source.network.rawValue, known.certificateDER)
                } else {
                    (base, source, certificate) = (known.vector, known.source.rawValue, known.certificateDER)
                }
            }
            if request.all == true { (base, source) = (VersionVector(), "all") }
            // The scopes beyond national the bundle carries (DATA-MODEL §14.6): those the
            // last link with the peer carried (both sides granted them) that this side
            // still grants; never linked, national only. Their part is encrypted.
            let known = try daemon.replica.with { try $0.bundlePeer(recipient) }
            let grants = daemon.state.withLock { $0.config.grants(for: recipient) }
            let scoped = (link?.scopes ?? known?.linkScopes ?? [.national]).intersection(grants).subtracting([.national])
            let streams = daemon.replica.currentStreams
            // What the peer holds of them: a vector file names national origins only, so a
            // live link's view, else the newest statement kept (`bundle_peers.vector`: the
            // last link's end, or the peer's last bundle applied here; after a vector file,
            // none: every change of those streams is sent, merged there as duplicates).
            let scopedBase = request.all == true ? VersionVector() : streams.restrict(link?.peerVector ?? known?.vector ?? VersionVector(), to: scoped)
            // The base goes in the clear header: national origins only, as the rest.
            base = streams.restrict(base, to: [.national])
            let header = newHeader(.changes, vector: nationalVector(), base: base)
            var writer = try BundleWriter(header: header, identity: presentedIdentity, recipientCertificateDER: certificate)
            sendResult(BundleCreateStartAnswer(bundleID: header.bundleID, recipientPeerID: recipient.description, base: source))
            started = true
            try sendPiece(writer.start())
            var trailer = try writeChanges(after: base.merged(with: scopedBase), scopes: scoped, with: &writer)
            trailer.chunks = writer.chunks
            try sendPiece(try writer.finish(trailer))
            // As stored (what a restart reads back): the vector file's statement, if newer,
            // is there already. Before the body's end line, so a failure here ends the
            // stream once (`streamFailed`'s own empty line and error).
            let exchange = try daemon.replica.with { store in
                try store.noteBundlePeer(recipient, certificateDER: nil, statement: nil, source: .network, bundleAt: now, bundleScopes: scoped)
                return try store.bundleExchange(recipient)
            }
            daemon.state.withLock { $0.bundleExchanges[recipient] = exchange }
            try stream.write([UInt8(ascii: "\n")])
            audit(audited, details: ["bundle_id": header.bundleID, "changes": String(trailer.changes), "bytes": String(writer.bytesWritten)])
            sendResult(BundleCreateEndAnswer(bytes: writer.bytesWritten, trailer: trailer))
        } catch {
            streamFailed(audited, error, started: started, abandoned: "the bundle was abandoned")
        }
    }

    /// Part of the file as binary pieces: the line `@N`, then N bytes as they are (at most
    /// 8 MiB a piece, within what a reader accepts).
    private func sendPiece(_ bytes: [UInt8]) throws {
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + (8 << 20))
            try stream.write(Array("@\(end - offset)\n".utf8) + bytes[offset..<end])
            offset = end
        } while offset < bytes.count
    }

    /// Every change of national and `scopes` held beyond `base`, in chunks of about a
    /// network batch (the next read on the store's queue while this thread seals and
    /// sends the last), then the names and receipts this replica knows, receipts of those
    /// scopes only. Returns the trailer's counts; its ranges name national origins only
    /// (the trailer is in the clear).
    ///
    /// Before a batch, a scopes chunk declares every stream of `scopes` known when the
    /// batch was read and not declared before, with this replica's vector over them: so
    /// every scoped stream a batch names (as origin or counter owner) is declared before
    /// it, including one learned while the bundle is made, which would otherwise reach the
    /// recipient undeclared, as national.
    private func writeChanges(after base: VersionVector, scopes: Set<Scope>, with writer: inout BundleWriter) throws -> BundleTrailer {
        let carried = scopes.union([.national])
        var declared = Set<ReplicaID>()
        /// One or more scopes chunks declaring `infos`, with `vector`'s entries for them.
        func declare(_ infos: [StreamInfo], _ vector: VersionVector) throws {
            let sorted = infos.sorted { $0.stream.bytes.lexicographicallyPrecedes($1.stream.bytes) }
            for start in stride(from: 0, to: max(1, sorted.count), by: StreamsMessage.maxStreams) {
                let part = Array(sorted[start..<min(sorted.count, start + StreamsMessage.maxStreams)])
                let ids = Set(part.map(\.stream))
                let scopesPart = BundleScopes(streams: StreamsMessage(granted: scopes, streams: part),
                                              vector: VersionVector(vector.entries.filter { ids.contains($0.key) }))
                try sendPiece(try writer.chunk(.scopes, scopesPart.encoded()))
                declared.formUnion(ids)
            }
        }
        if !scopes.isEmpty {
            // First, even with nothing to send: the scopes (the recipient merges their
            // receipts only if told) and what this replica holds of their streams.
            let (streams, vector) = daemon.replica.with { ($0.streamDirectory, $0.versionVector) }
            try declare(streams.streams.values.filter { scopes.contains($0.scope) }, vector)
        }
        var trailer = BundleTrailer()
        var records: [Collection: Set<Int64>] = [:]
        var cursor = base
        // A chunk is a network batch, so a bundle is about the size the same changes take
        // on the wire, and applies in as many transactions.
        let (limit, maxBytes) = (daemon.linkSettings.batchChanges, daemon.linkSettings.batchBytes)
        var next = BatchPrefetch(daemon.replica, after: cursor, limit: limit, maxBytes: maxBytes, scopes: carried)
        while true {
            let (batch, discarded, streams, vector) = try next.wait()
            if !discarded.isEmpty { daemon.discardedDamage(discarded) }
            if batch.isEmpty { break }
            // Streams learned since (a link declared one, or this replica wrote in a scope
            // first), named by this batch perhaps: declared before it.
            let fresh = streams.streams.values.filter { scopes.contains($0.scope) && !declared.contains($0.stream) }
            if !fresh.isEmpty { try declare(Array(fresh), vector) }
            let before = cursor
            for range in batch.ranges {
                cursor[range.replica] = max(cursor[range.replica], range.through)
                guard streams.scope(of: range.replica).isNational else { continue }
                let key = range.replica.description
                let known = trailer.ranges[key]
                trailer.ranges[key] = BundleRange(after: min(known?.after ?? range.after, range.after), through: max(known?.through ?? 0, range.through))
            }
            // A batch that covers nothing new would be read again for ever.
            guard cursor != before else { throw ControlFailure(message: "the replica's change index did not advance while making the bundle (see its log)", exitCode: .failure) }
            next = BatchPrefetch(daemon.replica, after: cursor, limit: limit, maxBytes: maxBytes, scopes: carried)
            trailer.changes += batch.changeCount
            trailer.erasures += batch.erasures
            // Distinct records by the store's key (cheaper than by ID; the count is for
            // `bundle inspect`: a record discarded as damaged and restored during the
            // making, which gets a new key, would count twice).
            for (collection, keys) in batch.recordKeys { records[collection, default: []].formUnion(keys) }
            // Encoded here, on this connection's thread, while the store reads the next.
            try sendPiece(try writer.chunk(.batch, try batch.payload(batchID: UInt64(writer.chunks))))
        }
        trailer.records = Dictionary(uniqueKeysWithValues: records.map { ($0.key.rawValue, $0.value.count) })
        let (names, allReceipts) = try daemon.replica.with { (try $0.replicaNames(), try $0.erasureReceipts()) }
        let receipts = allReceipts.filter { carried.contains($0.scope) }
        for payload in GossipPayloads.names(names) { try sendPiece(try writer.chunk(.names, payload)) }
        for chunk in GossipPayloads.receiptChunks(receipts) { try sendPiece(try writer.chunk(chunk.section, chunk.payload)) }
        (trailer.names, trailer.receipts) = (names.count, receipts.count)
        return trailer
    }

    /// A bundle's next batch, read on the store's queue, waited for later.
    final class BatchPrefetch: @unchecked Sendable {
        // @unchecked: `result` is written once on the store's queue before `done` is signalled, and read only after.
        private var result: Result<(ChangeRows, [ReplicaStore.DiscardedRecord], StreamDirectory, VersionVector), any Error>?
        private let done = DispatchSemaphore(value: 0)

        /// With the rows, the streams known and the vector held when they were read.
        init(_ replica: ReplicaHandle, after cursor: VersionVector, limit: Int, maxBytes: Int, scopes: Set<Scope>) {
            replica.async { [self] store in
                // As a link reads: a record found damaged on disk is discarded (not sent),
                // for peers to resend, rather than failing the bundle.
                result = Result {
                    let (rows, discarded) = try store.readDiscardingDamage(detectedAt: Int64(SystemClock().nowMilliseconds())) {
                        try store.changeRows(missingFrom: cursor, limit: limit, maxBytes: maxBytes, scopes: scopes)
                    }
                    return (rows, discarded, store.streamDirectory, store.versionVector)
                }
                done.signal()
            }
        }

        func wait() throws -> (ChangeRows, [ReplicaStore.DiscardedRecord], StreamDirectory, VersionVector) {
            done.wait()
            return try result!.get()
        }
    }
}

extension ControlConnection {
    /// `bundle_apply`: the file arrives (binary pieces, then `{"end": true}`) into a spool
    /// beside the database; it is checked whole — signature, sender approved, addressed
    /// here, every chunk decrypting — before anything is applied; then the first answer
    /// line (`BundleApplyStartAnswer`), a progress line per chunk applied, an empty line
    /// and `BundleApplyAnswer`. Each chunk is applied in a transaction of its own, after
    /// every check a network batch passes, and counted in `bundle_applies`, so an apply
    /// stopped by a crash resumes after the chunks it committed.
    func bundleApplyStream(_ request: BundleApplyRequest, body reader: inout ControlLineReader) {
        let audited = ControlRequest.bundleApply(request)
        let spool = BundleSpool.newPath(database: daemon.directory.database)
        defer { try? FileManager.default.removeItem(atPath: spool) }
        var started = false
        do {
            let clock = DispatchTime.now().uptimeNanoseconds
            func seconds(_ from: UInt64, _ to: UInt64 = DispatchTime.now().uptimeNanoseconds) -> String { String(format: "%.2f", Double(to - from) / 1e9) }
            try receive(request, into: spool, from: &reader)
            let received = DispatchTime.now().uptimeNanoseconds
            let checked = try checkBundle(spool)
            let verified = DispatchTime.now().uptimeNanoseconds
            let header = checked.header
            let now = Int64(SystemClock().nowMilliseconds())
            var answer = BundleApplyAnswer(bundleID: header.bundleID, senderPeerID: header.senderPeerID, senderReplica: header.senderReplica,
                                           senderName: header.senderName, createdAtMs: header.createdAtMs)
            answer.chunks = checked.trailer.chunks
            var progress = try daemon.replica.with { try $0.bundleApply(header.bundleID, from: checked.sender) }
            // The same sender and ID but another shape: not the bundle applied before.
            let restart = progress.map { $0.chunks != checked.trailer.chunks } ?? false
            if restart { progress = nil }
            let resumeFrom = progress?.completedAt != nil ? checked.trailer.chunks : min(progress?.chunksDone ?? 0, checked.trailer.chunks)
            sendResult(BundleApplyStartAnswer(bundleID: header.bundleID, senderPeerID: header.senderPeerID, chunks: checked.trailer.chunks, resumeFrom: resumeFrom))
            started = true
            if let completed = progress?.completedAt {
                answer.alreadyAppliedAt = UTCTime.iso8601(milliseconds: completed)
            } else {
                try applyChunks(spool, checked, from: resumeFrom, restart: restart, now: now, into: &answer)
            }
            daemon.log.info("bundle \(header.bundleID.prefix(8)) from \(checked.sender.short): \(answer.chunksApplied) of \(answer.chunks) chunks applied "
                            + "(received in \(seconds(clock, received)) s, checked in \(seconds(received, verified)) s, applied in \(seconds(verified)) s)")
            try stream.write([UInt8(ascii: "\n")])
            audit(audited, details: ["bundle_id": header.bundleID, "sender": header.senderPeerID, "changes": String(answer.changes),
                                     "applied": String(answer.applied)])
            sendResult(answer)
        } catch {
            streamFailed(audited, error, started: started, abandoned: "chunks applied so far stay applied, and the next apply resumes after them")
        }
    }

    /// The file from kmctl into `spool` (mode 0600), exactly `request.bytes` of it.
    private func receive(_ request: BundleApplyRequest, into spool: String, from reader: inout ControlLineReader) throws {
        guard request.bytes > 0 else { throw ControlFailure.usage("\"bytes\" must be the bundle's size, at least 1") }
        // The copy must not fill the disk the replica writes to.
        var info = statvfs()
        if statvfs(daemon.directory.path, &info) == 0 {
            let free = Int(clamping: UInt64(info.f_bavail).multipliedReportingOverflow(by: UInt64(info.f_frsize)).partialValue)
            if request.bytes > free - (64 << 20) { throw BundleError.tooLarge(bytes: request.bytes, free: max(0, free - (64 << 20))) }
        }
        var prefix: [UInt8] = []
        guard FileManager.default.createFile(atPath: spool, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: spool) else {
            throw ControlFailure(message: "cannot write a spool file in \(daemon.directory.path) (is the disk full?): nothing applied", exitCode: .failure)
        }
        defer { try? handle.close() }
        var received = 0
        while true {
            guard let line = try reader.next() else {
                throw ControlFailure(message: "the bundle ended before its end line (kmctl stopped?): nothing applied", exitCode: .failure)
            }
            if line.first == UInt8(ascii: "{") {
                guard (try? ControlCoding.decode(BundleApplyEndLine.self, from: line))?.end == true else {
                    throw ControlFailure.usage("a bundle's body ends with the line {\"end\": true}")
                }
                break
            }
            guard let count = ControlLineReader.pieceLength(line) else {
                throw ControlFailure.usage("a bundle's body is pieces: a line @N (N at most \(ControlLineReader.maximumPiece)), then N bytes")
            }
            guard received + count <= request.bytes else { throw ControlFailure.usage("more bundle bytes than the \(request.bytes) announced") }
            let piece: [UInt8]
            do { piece = try reader.readPiece(count: count) } catch TransportError.closed {
                throw ControlFailure(message: "the bundle ended inside a piece (kmctl stopped?): nothing applied", exitCode: .failure)
            }
            received += piece.count
            // Not a bundle at all (a wrong file): said at once, not after copying it.
            if prefix.count < 6 {
                prefix += piece.prefix(6 - prefix.count)
                if prefix.count == 6 {
                    guard Array(prefix.prefix(4)) == Array("KMSB".utf8) else { throw BundleError.notABundle }
                    let version = UInt16(prefix[4]) << 8 | UInt16(prefix[5])
                    guard version == BundleFormat.version else { throw BundleError.unsupportedFormat(version) }
                }
            }
            do { try handle.write(contentsOf: piece) } catch {
                throw ControlFailure(message: "cannot write the bundle's spool in \(daemon.directory.path) (\(error.localizedDescription); is the disk full?): nothing applied",
                                     exitCode: .failure)
            }
        }
        guard received == request.bytes else {
            throw ControlFailure(message: "\(received) bytes of the bundle arrived, not the \(request.bytes) announced: nothing applied", exitCode: .failure)
        }
    }

    struct CheckedBundle {
        let header: BundleHeader
        let trailer: BundleTrailer
        let sender: PeerID
        let senderCertificate: [UInt8]
        let opener: BundleOpener
    }

    /// Reads the whole spooled bundle once: from an approved peer, addressed to this
    /// replica (its current identity or, during a rotation, the previous one), every
    /// chunk decrypting under its key, the signature over every byte.
    private func checkBundle(_ spool: String) throws -> CheckedBundle {
        var reader = try BundleReader(BundleFile(path: spool))
        let header = reader.header
        guard header.kind == .changes else { throw BundleError.wrongKind(expected: .changes) }
        let sender = try PeerID(parsing: header.senderPeerID)
        let identities = daemon.identities
        let own = [identities.current] + (identities.previous.map { [$0.identity] } ?? [])
        guard !own.contains(where: { $0.peerID == sender }) else { throw BundleError.fromThisReplica }
        guard let identity = own.first(where: { $0.peerID.description == header.recipientPeerID }) else {
            throw BundleError.notForThisReplica(recipient: header.recipientPeerID ?? "?")
        }
        guard daemon.state.withLock({ $0.approved.contains(sender) }) else { throw BundleError.unapprovedSender(sender.description) }
        guard BundleHeader.readableVersions.contains(UInt16(clamping: header.protocolVersion)) else { throw BundleError.unsupportedProtocol(header.protocolVersion) }
        let opener = try BundleOpener(header: header, headerBytes: reader.headerBytes, identity: identity)
        // Every chunk decrypted and decoded: a structural fault refuses the file before
        // anything is applied (values are checked as each chunk is applied, as a link's).
        while let (index, sealed) = try reader.nextChunk() {
            let (section, payload) = try opener.open(sealed, index: index)
            do {
                switch section {
                case .batch: _ = try BatchCodec.decode(payload)
                case .names: _ = try GossipPayloads.decodeNames(payload)
                case .receipts: _ = try GossipPayloads.decodeReceipts(payload)
                case .scopedReceipts: _ = try GossipPayloads.decodeScopedReceipts(payload)
                case .scopes: _ = try BundleScopes.decode(payload)
                }
            } catch {
                throw BundleError.malformed("chunk \(index) does not decode: \(error)")
            }
        }
        let trailer = try reader.finish()
        return CheckedBundle(header: header, trailer: trailer, sender: sender, senderCertificate: reader.senderCertificateDER, opener: opener)
    }

    private func applyChunks(_ spool: String, _ bundle: CheckedBundle, from resumeFrom: Int, restart: Bool, now: Int64, into answer: inout BundleApplyAnswer) throws {
        let id = bundle.header.bundleID
        let total = bundle.trailer.chunks
        let sender = bundle.sender
        var senderVector = try BundleFormat.decode(bundle.header.senderVector)
        // The scopes beyond national it carries that this side grants the maker now
        // (DATA-MODEL §14.6); the changes, ranges and receipts of its other scopes are
        // skipped, as a link filters a scope one side does not grant.
        let grants = daemon.state.withLock { $0.config.grants(for: sender) }
        var allowed: Set<Scope> = [.national]
        var skipped = Set<ReplicaID>()
        /// A scopes chunk: its streams of scopes granted are declared (idempotent), the
        /// others' noted to be skipped, the maker's vector over the kept ones kept.
        func takeScopes(_ payload: [UInt8]) throws {
            let part = try BundleScopes.decode(payload)
            allowed.formUnion(part.streams.granted.intersection(grants))
            let kept = part.streams.streams.filter { allowed.contains($0.scope) }
            skipped.formUnion(part.streams.streams.filter { !allowed.contains($0.scope) }.map(\.stream))
            do {
                try daemon.replica.with { try $0.declareStreams(kept) }
            } catch let error as StoreError {
                throw BundleError.malformed("its streams contradict this replica's: \(error.description)")
            }
            let keptIDs = Set(kept.map(\.stream))
            senderVector = senderVector.merged(with: VersionVector(part.vector.entries.filter { keptIDs.contains($0.key) }))
        }
        let pipeline = ApplyPipeline()
        daemon.replica.holdIndexing()
        defer { daemon.replica.releaseIndexing() }
        var reader = try BundleReader(BundleFile(path: spool))
        var reported = resumeFrom
        func reportProgress() throws {
            let done = pipeline.done
            if done > reported {
                reported = done
                try stream.write(try ControlCoding.line(BundleApplyProgress(chunksDone: resumeFrom + done)))
            }
        }
        while let (index, sealed) = try reader.nextChunk() {
            // Decrypted and decoded here while the store applies the chunk before: the
            // store's queue always has the next chunk waiting (as a link's reader keeps it
            // busy), so background indexing does not slip in between chunks. Scopes chunks
            // are read on a resumed apply too: what is skipped depends on them.
            // Exactly the chunks checked (the spool is this daemon's own file; still).
            guard index < total else { throw BundleError.malformed("the spool changed after it was checked") }
            let (section, payload) = try bundle.opener.open(sealed, index: index)
            // Declared on the store's queue before any later chunk's job is queued there.
            if section == .scopes { try takeScopes(payload) }
            guard index >= resumeFrom else { continue }
            let done = index + 1
            let first = restart && index == resumeFrom
            let note = { @Sendable (store: ReplicaStore) throws in
                try store.noteBundleApply(id, sender: sender, chunksDone: done, chunks: total, now: now, completed: false, restart: first)
            }
            switch section {
            case .scopes:
                // Read above; only its progress is noted here.
                try pipeline.submit(to: daemon.replica) { store, _ in try note(store) }
            case .batch:
                var (_, received) = try BatchCodec.decode(payload)
                if !skipped.isEmpty {
                    // A counter total names an owner of its writer's scope (§14.4): a kept
                    // writer with a skipped owner is no honest maker's.
                    for change in received.changes where !skipped.contains(change.stamp.origin) {
                        if case .counter(_, _, _, let owner?) = change.payload, skipped.contains(owner) {
                            throw BundleError.malformed("chunk \(index) has a counter total of a stream owned by a stream of another scope")
                        }
                    }
                    received.changes.removeAll { skipped.contains($0.stamp.origin) }
                    received.ranges.removeAll { skipped.contains($0.replica) }
                }
                let me = daemon.replica.replicaID
                let (batch, verdict) = try daemon.replica.checkOwnMutations(received, cachedEntry: daemon.state.withLock { $0.localVector }[me]) {
                    daemon.allowEvidenceReincarnation(from: bundle.sender, .peerShowedLaterMutations, via: " in a bundle")
                }
                if case .falseRange(let claim) = verdict { daemon.log.warning("bundle \(id.prefix(8)) from \(bundle.sender.short) holds \(claim): ignored") }
                let (applyScopes, heldBySender) = (allowed, senderVector)
                try pipeline.submit(to: daemon.replica) { [daemon] store, tally in
                    // Writes discarded as damaged here are settled by a chunk that brings them (a link does this in its repair streams).
                    let result = try store.apply(batch, trackApplied: store.damagedWritesOutstanding > 0, sender: heldBySender, scopes: applyScopes)
                    try note(store)
                    tally.changes += batch.changes.count
                    tally.applied += result.applied
                    tally.ignored += result.ignored
                    tally.erased += result.erased
                    tally.conflicts += result.conflicts
                    daemon.bundleBatchApplied(result)
                }
            case .scopedReceipts:
                let receipts = try GossipPayloads.decodeScopedReceipts(payload).filter { allowed.contains($0.scope) }
                try pipeline.submit(to: daemon.replica) { [daemon] store, tally in
                    let changed = try store.mergeReceipts(receipts)
                    try note(store)
                    tally.receipts += changed
                    if changed > 0 { daemon.gossipLearned(.receipts) }
                }
            case .names, .receipts:
                let kind: Gossip = section == .names ? .names : .receipts
                try pipeline.submit(to: daemon.replica) { [daemon] store, tally in
                    let changed = try kind.merge(payload, into: store)
                    try note(store)
                    if kind == .names { tally.names += changed } else { tally.receipts += changed }
                    if changed > 0 { daemon.gossipLearned(kind) }
                }
            }
            try reportProgress()
        }
        let tally = try pipeline.finish()
        try reportProgress()
        // The file was checked whole; a spool changed since (only this daemon's user can)
        // must not pass for a complete apply.
        guard reader.chunksRead == total else { throw BundleError.malformed("the spool changed after it was checked") }
        answer.chunksApplied = tally.chunks
        answer.changes = tally.changes
        answer.applied = tally.applied
        answer.ignored = tally.ignored
        answer.erased = tally.erased
        answer.conflicts = tally.conflicts
        answer.names = tally.names
        answer.receipts = tally.receipts
        let replica = ReplicaID(hex: bundle.header.senderReplica)
        let exchange = try daemon.replica.with { store in
            try store.noteBundleApply(id, sender: bundle.sender, chunksDone: total, chunks: total, now: now, completed: true)
            // What the sender held, so the next bundle back is minimal.
            try store.noteBundlePeer(bundle.sender, certificateDER: bundle.senderCertificate, statement: (replica, senderVector, min(bundle.header.createdAtMs, now)),
                                     source: .bundle, bundleAt: now, bundleScopes: allowed)
            return try store.bundleExchange(bundle.sender)
        }
        daemon.state.withLock { $0.bundleExchanges[bundle.sender] = exchange }
    }
}

/// A bundle's chunks applied in order on the store's queue, at most two waiting, with
/// their totals; the first failure stops the rest.
final class ApplyPipeline: Sendable {
    struct Tally: Sendable {
        var chunks = 0, changes = 0, applied = 0, ignored = 0, erased = 0, conflicts = 0, names = 0, receipts = 0
    }

    private let slots = DispatchSemaphore(value: 2)
    private let pending = DispatchGroup()
    private let state = Mutex<(tally: Tally, failure: (any Error)?)>((Tally(), nil))

    /// Chunks applied so far.
    var done: Int { state.withLock { $0.tally.chunks } }

    /// Queues `job` after the chunks before it; throws the failure of an earlier one.
    func submit(to replica: ReplicaHandle, _ job: @escaping @Sendable (ReplicaStore, inout Tally) throws -> Void) throws {
        slots.wait()
        if let failure = state.withLock({ $0.failure }) {
            slots.signal()
            throw failure
        }
        pending.enter()
        replica.async { [self] store in
            defer {
                slots.signal()
                pending.leave()
            }
            guard state.withLock({ $0.failure == nil }) else { return }
            var tally = Tally()
            do {
                try job(store, &tally)
                state.withLock {
                    $0.tally.chunks += 1
                    $0.tally.changes += tally.changes
                    $0.tally.applied += tally.applied
                    $0.tally.ignored += tally.ignored
                    $0.tally.erased += tally.erased
                    $0.tally.conflicts += tally.conflicts
                    $0.tally.names += tally.names
                    $0.tally.receipts += tally.receipts
                }
            } catch {
                state.withLock { $0.failure = $0.failure ?? error }
            }
        }
    }

    /// Waits for every queued chunk; the totals, or the first failure.
    func finish() throws -> Tally {
        pending.wait()
        let (tally, failure) = state.withLock { ($0.tally, $0.failure) }
        if let failure { throw failure }
        return tally
    }
}

/// The line that ends a `bundle_apply` body: `{"end": true}`.
struct BundleApplyEndLine: Decodable {
    let end: Bool
}
