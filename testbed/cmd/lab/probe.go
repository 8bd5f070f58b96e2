package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/natprobe"
)

// cmdProbe classifies the NAT in front of lab nodes: the probe server runs in
// --server (its interface's first two addresses), the clients in the nodes;
// all sockets are opened by this process inside the namespaces.
func cmdProbe(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	id := fs.String("lab", "", "lab id or name")
	server := fs.String("server", "rdv", "public node that runs the probe server")
	serverIf := fs.String("server-if", "eth1", "its interface (needs two IPv4 addresses)")
	clientIf := fs.String("if", "eth1", "interface of the probed nodes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		//lint:ignore ST1005 a usage line: "NODE..." means one or more nodes
		return errors.New("usage: lab probe [--lab LAB] [--server NODE] NODE...")
	}
	l, err := lab.Open(*id)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := startProbeServer(ctx, l, *server, *serverIf)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("probe server on %s: %+v\n", *server, srv.Target())
	var errs []error
	for _, node := range fs.Args() {
		res, err := probeNode(ctx, l, node, *clientIf, srv.Target())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Printf("%s: %v\n", node, res)
	}
	return errors.Join(errs...)
}

// startProbeServer starts a natprobe server in node, on the first two IPv4
// addresses of ifname.
func startProbeServer(ctx context.Context, l *lab.Lab, node, ifname string) (*natprobe.Server, error) {
	addrs, err := l.Addrs(node, ifname)
	if err != nil {
		return nil, err
	}
	if len(addrs) < 2 {
		return nil, fmt.Errorf("probe server: %s %s needs two IPv4 addresses, has %v", node, ifname, addrs)
	}
	srv, err := natprobe.Listen(
		func(n, a string) (net.PacketConn, error) { return l.ListenPacket(node, n, a) },
		func(n, a string) (net.Listener, error) { return l.Listen(node, n, a) },
		addrs[0].Addr(), addrs[1].Addr(), 0)
	if err != nil {
		return nil, err
	}
	go func() { _ = srv.Serve(ctx) }()
	return srv, nil
}

func probeNode(ctx context.Context, l *lab.Lab, node, ifname string, t natprobe.Target) (natprobe.Result, error) {
	local, err := l.Addr(node, ifname)
	if err != nil {
		return natprobe.Result{}, err
	}
	return natprobe.Classify(ctx, natprobe.Config{
		Local:        local,
		ListenPacket: func(n, a string) (net.PacketConn, error) { return l.ListenPacket(node, n, a) },
		DialTCP: func(ctx context.Context, a string) (net.Conn, error) {
			return l.Dial(ctx, node, "tcp4", a)
		},
	}, t)
}

// cmdNATProbe is the standalone probe for hosts outside a netns lab (e.g.
// containerlab nodes): `natprobe serve` on the public host, `natprobe client`
// behind the NAT.
func cmdNATProbe(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: lab natprobe serve --primary IP --alt-ip IP [--port N] | lab natprobe client --local IP --primary IP:PORT --alt-port PORT --alt-ip IP:PORT")
	}
	fs := flag.NewFlagSet("natprobe "+args[0], flag.ContinueOnError)
	primary := fs.String("primary", "", "server: primary IP; client: primary IP:PORT")
	altIP := fs.String("alt-ip", "", "server: second IP; client: second IP:PORT")
	port := fs.Int("port", 3478, "server: primary port (the alternate port is +1)")
	altPort := fs.Int("alt-port", 0, "client: the server's alternate port")
	local := fs.String("local", "", "client: this host's address")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		p, err1 := netip.ParseAddr(*primary)
		a, err2 := netip.ParseAddr(*altIP)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("--primary/--alt-ip: %w", err)
		}
		srv, err := natprobe.Listen(net.ListenPacket, net.Listen, p, a, *port)
		if err != nil {
			return err
		}
		fmt.Printf("probe server: %+v\n", srv.Target())
		return srv.Serve(ctx)
	case "client":
		p, err1 := netip.ParseAddrPort(*primary)
		a, err2 := netip.ParseAddrPort(*altIP)
		l, err3 := netip.ParseAddr(*local)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("--primary/--alt-ip/--local: %w", err)
		}
		t := natprobe.Target{Primary: p, AltPort: netip.AddrPortFrom(p.Addr(), uint16(*altPort)), AltIP: a}
		res, err := natprobe.Classify(ctx, natprobe.Config{Local: l}, t)
		if err != nil {
			return err
		}
		fmt.Println(res)
		return nil
	}
	return fmt.Errorf("natprobe: unknown mode %q (serve or client)", args[0])
}
