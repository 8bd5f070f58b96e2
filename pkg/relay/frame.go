package relay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// parseHeader decodes a frame header: type and payload length. It rejects lengths
// above MaxFrameLen; whether the type is acceptable is up to the caller, which
// knows where the frame came from.
func parseHeader(b []byte) (frameType, int, error) {
	if len(b) < headerLen {
		return 0, 0, protoErr("truncated frame header (%d of %d bytes)", len(b), headerLen)
	}
	t := frameType(b[0])
	n := binary.BigEndian.Uint32(b[1:headerLen])
	if n > MaxFrameLen {
		return t, 0, protoErr("%v frame of %d bytes exceeds the %d-byte limit", t, n, MaxFrameLen)
	}
	return t, int(n), nil
}

// appendHeader appends a frame header for a payload of n bytes.
func appendHeader(b []byte, t frameType, n int) []byte {
	return append(b, byte(t), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// putHeader writes a frame header into b[:headerLen].
func putHeader(b []byte, t frameType, n int) {
	b[0] = byte(t)
	binary.BigEndian.PutUint32(b[1:headerLen], uint32(n))
}

// readFrame reads one frame whose payload may be at most maxLen bytes (and must fit
// in br's buffer). The payload aliases br's buffer: it is valid until the next read
// from br.
func readFrame(br *bufio.Reader, maxLen int) (frameType, []byte, error) {
	hdr, err := br.Peek(headerLen)
	if err != nil {
		return 0, nil, eofMidFrame(err, len(hdr))
	}
	t, n, err := parseHeader(hdr)
	if err != nil {
		return t, nil, err
	}
	if n > maxLen {
		return t, nil, protoErr("%v frame of %d bytes exceeds the %d-byte limit here", t, n, maxLen)
	}
	b, err := br.Peek(headerLen + n)
	if err != nil {
		return t, nil, eofMidFrame(err, 1)
	}
	// Discard only advances the read index: b stays intact until the next read.
	br.Discard(headerLen + n)
	return t, b[headerLen:], nil
}

// eofMidFrame turns an EOF after the first byte of a frame into ErrUnexpectedEOF,
// so that "closed between frames" and "closed mid-frame" read differently.
func eofMidFrame(err error, got int) error {
	if errors.Is(err, io.EOF) && got > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frameBuffered reports whether br holds the whole next frame, so reading it will
// not touch the connection. Read loops use it to skip deadline upkeep (a clock
// read) for frames that cannot block.
func frameBuffered(br *bufio.Reader) bool {
	n, ok := bufferedFrameLen(br)
	return ok && br.Buffered() >= n
}

// bufferedFrameLen is the length (header included) of the frame whose header
// is in br's buffer; ok is false when the header is not all there.
func bufferedFrameLen(br *bufio.Reader) (n int, ok bool) {
	if br.Buffered() < headerLen {
		return 0, false
	}
	hdr, _ := br.Peek(headerLen)
	return headerLen + int(binary.BigEndian.Uint32(hdr[1:headerLen])), true
}
