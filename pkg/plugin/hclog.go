package plugin

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger gives go-plugin (which logs through hclog, and relays the
// plugin's stderr through it) a logger writing to log: warnings and errors at
// warn, the rest at debug.
func newHCLogger(log *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        "go-plugin",
		Level:       hclog.Debug,
		Output:      &lineWriter{log: log},
		DisableTime: true,
	})
}

// lineWriter turns hclog's lines into slog records.
type lineWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // partial: keep for the next write
			if w.buf.Len() > 64<<10 {
				w.buf.Reset()
			}
			return len(p), nil
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		switch {
		case strings.Contains(line, "[ERROR]"), strings.Contains(line, "[WARN]"), strings.Contains(line, "panic:"):
			w.log.Warn("plugin says", "line", line)
		default:
			w.log.Debug("plugin says", "line", line)
		}
	}
}
