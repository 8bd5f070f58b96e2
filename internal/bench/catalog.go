package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// CatalogResult is one catalog convergence measurement.
type CatalogResult struct {
	Nodes       int
	Convergence Series // ms from the service being added to the last node merging it, per repetition
	IdleBytes   Series // link bytes sent per node per second while idle (gossip + keepalives)
	IdleWindow  time.Duration
}

// Catalog starts n nodes, waits until every node knows every other as a member,
// then reps times adds a service on one node and measures when the last node
// merged it (from the nodes' own log timestamps: no polling skews the figure).
// It then measures idle traffic over window.
func Catalog(ctx context.Context, bin, rdvBin string, n, reps int, window time.Duration) (CatalogResult, error) {
	res := CatalogResult{Nodes: n, IdleWindow: window}
	rdv, err := StartRendezvous(ctx, rdvBin)
	if err != nil {
		return res, err
	}
	defer rdv.Kill()
	nodes := make([]*meshproc.Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = meshproc.StartNode(ctx, bin, rdv.Addr, meshproc.NodeOptions{
				Name: fmt.Sprintf("c%d", i), Extra: []string{"--log-level", "debug", "--log-format", "json", "--relay-only"}})
		}()
	}
	wg.Wait()
	defer func() {
		for _, nd := range nodes {
			if nd != nil {
				nd.Close()
			}
		}
	}()
	for _, err := range errs {
		if err != nil {
			return res, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, nd := range nodes {
		if err := waitMembers(wctx, nd, n-1); err != nil {
			return res, err
		}
	}
	owner := nodes[0]
	st, err := owner.Ctl.Status(ctx)
	if err != nil {
		return res, err
	}
	ownerShort := st.ID[:10]
	for rep := range reps {
		s, err := owner.Ctl.AddService(ctx, api.Service{Target: "127.0.0.1:9", Name: fmt.Sprintf("bench%d", rep)})
		if err != nil {
			return res, err
		}
		added := time.Now()
		ost, err := owner.Ctl.Status(ctx)
		if err != nil {
			return res, err
		}
		var last time.Time
		for _, nd := range nodes[1:] {
			t, err := mergedAt(wctx, nd, ownerShort, s, ost.CatalogVersion)
			if err != nil {
				return res, err
			}
			if t.After(last) {
				last = t
			}
		}
		res.Convergence = append(res.Convergence, ms(last.Sub(added)))
		if err := owner.Ctl.RemoveService(ctx, s.ID); err != nil {
			return res, err
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Idle traffic.
	time.Sleep(time.Second)
	before := make([]uint64, n)
	for i, nd := range nodes {
		before[i] = bytesOut(ctx, nd)
	}
	time.Sleep(window)
	for i, nd := range nodes {
		res.IdleBytes = append(res.IdleBytes, float64(bytesOut(ctx, nd)-before[i])/window.Seconds())
	}
	return res, nil
}

func waitMembers(ctx context.Context, nd *meshproc.Node, want int) error {
	for {
		ps, err := nd.Ctl.Peers(ctx)
		alive := 0
		for _, p := range ps {
			if p.Member == "alive" && p.State == api.LinkStateUp {
				alive++
			}
		}
		if err == nil && alive >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %d of %d members alive and linked", nd.Name, alive, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func bytesOut(ctx context.Context, nd *meshproc.Node) uint64 {
	ps, _ := nd.Ctl.Peers(ctx)
	var sum uint64
	for _, p := range ps {
		sum += p.BytesOut
	}
	return sum
}

// mergedAt waits until nd logged merging owner's entry at version (or later,
// which lists s too), and returns the log record's time.
func mergedAt(ctx context.Context, nd *meshproc.Node, owner string, s api.Service, version uint64) (time.Time, error) {
	for {
		if t, ok := findMerge(nd.Out.String(), owner, version); ok {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s never learned serveid %d", nd.Name, s.ID)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// findMerge scans JSON log lines for the first "catalog entry updated" record of
// owner at version or later: the node's merge of it.
func findMerge(logs, owner string, version uint64) (time.Time, bool) {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct {
			Time    time.Time `json:"time"`
			Msg     string    `json:"msg"`
			Version string    `json:"version"`
			Owner   string    `json:"owner"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Msg != "catalog entry updated" || rec.Owner != owner {
			continue
		}
		if v, err := strconv.ParseUint(rec.Version, 10, 64); err == nil && v >= version {
			return rec.Time, true
		}
	}
	return time.Time{}, false
}
