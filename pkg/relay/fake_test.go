package relay

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// fakeConn is the server end of a connection to a hand-driven test server, for
// client tests that need a server misbehaving in a precise way.
type fakeConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// fakeServer listens on loopback and runs handle for every connection (closing
// it afterwards). It returns the address.
func fakeServer(t *testing.T, handle func(*fakeConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				handle(&fakeConn{t: t, nc: nc, br: bufio.NewReader(nc)})
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func (fc *fakeConn) readMagic() bool {
	var m [len(Magic)]byte
	_, err := fc.br.Read(m[:])
	return err == nil
}

func (fc *fakeConn) write(b []byte) { fc.nc.Write(b) }

// acceptHandshake plays the server's part of the handshake (without checking the
// proof) and sends Welcome and an empty PeersEnd.
func (fc *fakeConn) acceptHandshake() {
	var m [len(Magic)]byte
	if _, err := fc.br.Read(m[:]); err != nil || !bytes.Equal(m[:], []byte(Magic)) {
		return
	}
	eph, _ := identity.GeneratePrivateKey()
	sh := serverHello{version: ProtocolVersion, ephPub: eph.Public()}
	rand.Read(sh.challenge[:])
	fc.write(appendServerHello(nil, sh))
	if typ, _, err := readFrame(fc.br, clientHelloLen); err != nil || typ != frameClientHello {
		return
	}
	fc.write(cat(appendEmpty(nil, frameWelcome), appendEmpty(nil, framePeersEnd)))
}
