package overlay

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestDatagramFraming(t *testing.T) {
	var b bytes.Buffer
	wbuf := make([]byte, 0, maxDatagram+2)
	for _, p := range [][]byte{{}, {1}, bytes.Repeat([]byte{7}, maxDatagram)} {
		if err := writeDatagram(&b, wbuf, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeDatagram(&b, wbuf, make([]byte, maxDatagram+1)); err == nil {
		t.Fatal("oversized datagram framed")
	}
	buf := make([]byte, maxDatagram)
	for _, want := range []int{0, 1, maxDatagram} {
		p, err := readDatagram(&b, buf)
		if err != nil || len(p) != want {
			t.Fatalf("datagram of %d: got %d, %v", want, len(p), err)
		}
	}
	if _, err := readDatagram(&b, buf); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v", err)
	}
	if _, err := readDatagram(bytes.NewReader([]byte{0, 5, 1}), buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: %v", err)
	}
}

func FuzzReadDatagram(f *testing.F) {
	f.Add([]byte{0, 3, 'a', 'b', 'c'})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		buf := make([]byte, maxDatagram)
		r := bytes.NewReader(b)
		total := 0
		for {
			p, err := readDatagram(r, buf)
			if err != nil {
				break
			}
			total += 2 + len(p)
		}
		if total > len(b) {
			t.Fatalf("read %d bytes of frames from %d", total, len(b))
		}
	})
}
