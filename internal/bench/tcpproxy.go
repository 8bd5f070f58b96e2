package bench

import (
	"fmt"
	"io"
	"net"
	"os"
)

// A plain TCP proxy in its own process: two of them in a chain are what a
// mapping's TCP legs cross (client -> node -> node -> service) without KCP,
// crypto or UDP, so the ping-pong table can show how much of a mapping's
// round trip the process crossings alone take on this machine.

// ServeTCPProxy is the child side: it listens on loopback, prints
// "addr=ADDR" on stdout and copies each connection to and from target (with
// Nagle off, as the node does) until stdin closes.
func ServeTCPProxy(target string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("addr=%s\n", ln.Addr())
	go func() { io.Copy(io.Discard, os.Stdin); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer u.Close()
			go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
			io.Copy(c, u)
		}()
	}
}

// TCPProxy is a running ServeTCPProxy child.
type TCPProxy struct {
	Addr string
	proc *child
}

// StartTCPProxy runs exe with args (which must make it call ServeTCPProxy)
// and waits for its address.
func StartTCPProxy(exe string, args ...string) (*TCPProxy, error) {
	proc, err := startChild("tcp proxy", exe, args...)
	if err != nil {
		return nil, err
	}
	return &TCPProxy{Addr: proc.addr, proc: proc}, nil
}

// Close ends the child and waits for it.
func (p *TCPProxy) Close() { p.proc.stop() }
