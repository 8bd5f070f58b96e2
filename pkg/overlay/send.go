package overlay

// The send side of a link, top to bottom:
//
//	app -> mapping (splice) -> smux stream -> KCP session
//	  KCP segment -> kcpConn.WriteTo -> sendSegment
//	any link message (KCP, gossip, ICE signaling, ...) -> sendMessage:
//	  kind byte + payload -> seal.Channel.Seal (AEAD, counter) -> sendPacket
//	sealed packet -> route.send: the direct path (pkg/ice queues it and sends
//	  bursts per system call) or the relay (pkg/relay queues it on the
//	  rendezvous connection); handshakes take both.
//
// Nothing here blocks: a full queue anywhere is packet loss, which KCP repairs.

// sendSegment seals one KCP segment.
func (l *link) sendSegment(seg []byte) { l.sendMessage(msgKCP, seg) }

// sendMessage seals one link message. Without a session it is dropped (the
// layers above retransmit) and a handshake starts. With --direct-only, data
// (KCP, gossip) waits for a direct path; handshakes and signaling still use the
// relay, or no direct path could ever be found.
func (l *link) sendMessage(kind byte, payload []byte) {
	if l.n.cfg.DirectOnly && (kind == msgKCP || kind == msgGossip) && !l.route.isDirect() {
		return
	}
	b := getBuf()
	*b = append(append(*b, kind), payload...)
	_ = l.ch.Seal(*b)
	putBuf(b)
}

// sendPacket is the seal.Channel's Send: one sealed packet onto the route.
func (l *link) sendPacket(pkt []byte) error {
	l.bytesOut.Add(uint64(len(pkt)))
	return l.route.send(pkt)
}
