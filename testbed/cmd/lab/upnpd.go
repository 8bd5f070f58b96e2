package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pion/stun"
)

// cmdUPnPd runs the real miniupnpd (Debian's miniupnpd, nftables backend) on
// a lab router whose NAT kind is upnp (scripts/upnp.sh): UPnP IGD, NAT-PMP and
// PCP on the LAN side, port mappings as nft rules in table inet mnupnp (which
// scripts/nat.sh prepares).
//
// miniupnpd refuses to forward ports when its WAN address is in a reserved
// range, and the lab's fake internet is 198.18.0.0/15. Its documented way out
// is to learn the public address by STUN (ext_perform_stun): the router
// answers those STUN requests itself, on its WAN address (over loopback), so
// miniupnpd learns the truth — in the lab, that address is public — and
// enables forwarding. The config file and pid file live in a temporary
// directory that is gone once the daemon has read them, so SIGKILL at lab
// teardown leaves nothing behind.
func cmdUPnPd(args []string) error {
	fs := flag.NewFlagSet("upnpd", flag.ContinueOnError)
	wan := fs.String("wan", "", "WAN interface (miniupnpd's ext_ifname)")
	lan := fs.String("lan", "", "LAN interface (miniupnpd's listening_ip)")
	public := fs.String("public", "", "the WAN address (the STUN answer)")
	allow := fs.String("allow", "", "LAN prefix allowed to map ports, e.g. 10.21.0.0/24")
	bin := fs.String("miniupnpd", "miniupnpd", "the miniupnpd executable")
	bg := fs.Bool("background", false, "detach once miniupnpd runs (setup errors are reported first)")
	logFile := fs.String("log", "", "with --background: append logs (miniupnpd's too) to this file (default: discard)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pub, err := netip.ParseAddr(*public)
	if err != nil || !pub.Is4() {
		return fmt.Errorf("upnpd: --public %q: want an IPv4 address", *public)
	}
	pfx, err := netip.ParsePrefix(*allow)
	if err != nil || !pfx.Addr().Is4() {
		return fmt.Errorf("upnpd: --allow %q: want an IPv4 prefix", *allow)
	}
	if *wan == "" || *lan == "" {
		return errors.New("usage: lab upnpd [--background] --wan IF --lan IF --public ADDR --allow PREFIX")
	}
	if *bg {
		var rest []string
		for _, a := range args {
			if a != "--background" && a != "-background" {
				rest = append(rest, a)
			}
		}
		return detach("miniupnpd", append([]string{"upnpd"}, rest...), *logFile)
	}
	ready := readyFunc()
	err = runUPnPd(upnpdConfig{wan: *wan, lan: *lan, public: pub, allow: pfx.Masked(), bin: *bin}, ready)
	if err != nil {
		ready(err)
	}
	return err
}

type upnpdConfig struct {
	wan, lan string
	public   netip.Addr
	allow    netip.Prefix
	bin      string
}

// stunPort is where the router answers miniupnpd's STUN check.
const stunPort = 3478

// miniupnpdConf is the daemon's configuration: NAT-PMP/PCP and UPnP IGD on
// the LAN, secure mode (a client maps only to itself), the chains nat.sh
// made, lifetimes from 2 minutes (PCP's floor) to a day.
const miniupnpdConf = `ext_ifname=%s
listening_ip=%s
http_port=0
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=no
notify_interval=60
uuid=6f0a1c3e-8cf0-11e0-98ee-001a6bd2d07b
min_lifetime=120
max_lifetime=86400
upnp_table_name=mnupnp
upnp_nat_table_name=mnupnp
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 %s 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`

func runUPnPd(c upnpdConfig, ready func(error)) error {
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.public, stunPort)))
	if err != nil {
		return fmt.Errorf("upnpd: STUN responder: %w", err)
	}
	defer pc.Close()
	go serveSTUN(pc)

	dir, err := os.MkdirTemp("", "mlab-miniupnpd-")
	if err != nil {
		return fmt.Errorf("upnpd: %w", err)
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "miniupnpd.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, miniupnpdConf, c.wan, c.lan, c.allow), 0o600); err != nil {
		return fmt.Errorf("upnpd: %w", err)
	}
	cmd := exec.Command(c.bin, "-d", "-f", conf, "-P", filepath.Join(dir, "miniupnpd.pid"),
		"-o", fmt.Sprintf("STUN:%s:%d", c.public, stunPort))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("upnpd: %w", err)
	}
	cmd.Stdout = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("upnpd: start %s: %w", c.bin, err)
	}
	// Ready once it listens for NAT-PMP/PCP and forwarding is on (its STUN
	// check passed); its log goes on to ours.
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(os.Stderr, sc.Text())
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	var listening, forwarding bool
	var last []string
	timeout := time.After(8 * time.Second)
	for !listening || !forwarding {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				return fmt.Errorf("upnpd: miniupnpd exited during setup: %s", strings.Join(last, " | "))
			}
			last = append(last[max(0, len(last)-4):], l)
			switch {
			case strings.Contains(l, "Listening for NAT-PMP/PCP traffic"):
				listening = true
			case strings.Contains(l, "Port forwarding is now enabled"):
				forwarding = true
			case strings.Contains(l, "Port forwarding is now disabled"), strings.Contains(l, "Port forwarding is impossible"):
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return fmt.Errorf("upnpd: miniupnpd disabled port forwarding: %s", l)
			}
		case <-timeout:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("upnpd: miniupnpd not ready after 8s (listening %v, forwarding %v): %s", listening, forwarding, strings.Join(last, " | "))
		}
	}
	os.RemoveAll(dir) // read already; nothing may outlive a SIGKILL
	go func() {
		for range lines { // keep draining
		}
	}()
	slog.Info("miniupnpd running", "wan", c.wan, "lan", c.lan, "public", c.public, "allow", c.allow)
	ready(nil)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("upnpd: miniupnpd exited: %v", err)
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM) // it deletes its mappings
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		return nil
	}
}

// serveSTUN answers every Binding request on pc with the source address, as
// MAPPED-ADDRESS (what miniupnpd's check reads) and XOR-MAPPED-ADDRESS; it
// ignores CHANGE-REQUEST (answers from the same address).
func serveSTUN(pc *net.UDPConn) {
	buf := make([]byte, 1500)
	for {
		n, src, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() != nil || m.Type != stun.BindingRequest {
			continue
		}
		ip := net.IP(src.Addr().Unmap().AsSlice())
		resp, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.BindingSuccess,
			&stun.MappedAddress{IP: ip, Port: int(src.Port())}, &stun.XORMappedAddress{IP: ip, Port: int(src.Port())})
		if err != nil {
			continue
		}
		_, _ = pc.WriteToUDPAddrPort(resp.Raw, src)
	}
}
