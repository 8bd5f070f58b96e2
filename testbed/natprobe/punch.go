package natprobe

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Peer is one side of a hole punch: its socket and the address it
// advertises (its mapping as seen by a probe server, see Mapped).
type Peer struct {
	Conn   net.PacketConn
	Public netip.AddrPort
}

// PunchResult tells which side received the other's packets, and from where.
type PunchResult struct {
	AGot, BGot   bool
	AFrom, BFrom netip.AddrPort // where the first packet of the other side came from
}

// OK tells whether both directions worked.
func (r PunchResult) OK() bool { return r.AGot && r.BGot }

// Punch makes a and b send to each other's advertised address at the same
// time (every 20ms, for at most d) and reports what arrived. With learn, a
// side that receives from another address than advertised replies there
// from then on (what ICE does with peer-reflexive candidates).
func Punch(ctx context.Context, a, b Peer, learn bool, d time.Duration) (PunchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var got [2]atomic.Bool
	var res PunchResult
	var errs [2]error
	var wg sync.WaitGroup
	side := func(i int, me, other Peer, from *netip.AddrPort) {
		defer wg.Done()
		tok := randomToken()
		msg, _ := json.Marshal(Request{Op: opPunch, Tok: tok})
		peer := other.Public
		buf := make([]byte, 2048)
		var doneAt time.Time
		for ctx.Err() == nil {
			if _, err := me.Conn.WriteTo(msg, net.UDPAddrFromAddrPort(peer)); err != nil && !isTransient(err) {
				errs[i] = err
				return
			}
			_ = me.Conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			for {
				n, src, err := me.Conn.ReadFrom(buf)
				if err != nil {
					break
				}
				var req Request
				if json.Unmarshal(buf[:n], &req) != nil || req.Op != opPunch || req.Tok == tok {
					continue
				}
				s := addrPort(src)
				if !got[i].Load() {
					*from = s
					got[i].Store(true)
				}
				if learn && s != peer {
					peer = s
				}
			}
			// Keep sending a little after both sides got through, so the
			// other side's last checks see packets too.
			if got[0].Load() && got[1].Load() {
				if doneAt.IsZero() {
					doneAt = time.Now()
				} else if time.Since(doneAt) > 100*time.Millisecond {
					break
				}
			}
		}
		_ = me.Conn.SetReadDeadline(time.Time{})
	}
	wg.Add(2)
	go side(0, a, b, &res.AFrom)
	go side(1, b, a, &res.BFrom)
	wg.Wait()
	res.AGot, res.BGot = got[0].Load(), got[1].Load()
	return res, errors.Join(errs[0], errs[1])
}
