package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ: 100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// CPUTime returns a process's CPU time so far, user plus system, over all its
// threads (Linux /proc; 10 ms resolution).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the fields
	// that follow start after its last ')'. utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// CPUDuring runs f and returns the CPU time each of pids used meanwhile.
func CPUDuring(pids []int, f func() error) ([]time.Duration, error) {
	before := make([]time.Duration, len(pids))
	for i, pid := range pids {
		t, err := CPUTime(pid)
		if err != nil {
			return nil, err
		}
		before[i] = t
	}
	if err := f(); err != nil {
		return nil, err
	}
	used := make([]time.Duration, len(pids))
	for i, pid := range pids {
		t, err := CPUTime(pid)
		if err != nil {
			return nil, err
		}
		used[i] = t - before[i]
	}
	return used, nil
}

// PerGB is CPU seconds per 10^9 bytes moved (0 when nothing moved).
func PerGB(cpu time.Duration, bytes int64) float64 {
	if bytes <= 0 {
		return 0
	}
	return cpu.Seconds() / (float64(bytes) / 1e9)
}
