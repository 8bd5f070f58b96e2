package ice

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs bridges pion's leveled loggers to slog. pion logs liberally (a warning
// for every unanswered check), so everything it says goes out at Debug with its
// own level as an attribute; its Trace level is dropped.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) emit(level, msg string) {
	l.log.Debug(msg, "pion_level", level)
}

func (l pionLogger) emitf(level, format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.emit(level, fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(string)                 {}
func (l pionLogger) Tracef(string, ...any)        {}
func (l pionLogger) Debug(msg string)             { l.emit("debug", msg) }
func (l pionLogger) Debugf(f string, args ...any) { l.emitf("debug", f, args...) }
func (l pionLogger) Info(msg string)              { l.emit("info", msg) }
func (l pionLogger) Infof(f string, args ...any)  { l.emitf("info", f, args...) }
func (l pionLogger) Warn(msg string)              { l.emit("warn", msg) }
func (l pionLogger) Warnf(f string, args ...any)  { l.emitf("warn", f, args...) }
func (l pionLogger) Error(msg string)             { l.emit("error", msg) }
func (l pionLogger) Errorf(f string, args ...any) { l.emitf("error", f, args...) }
