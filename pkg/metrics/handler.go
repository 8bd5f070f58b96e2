package metrics

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the handlers are meant to be mounted.
const Path = "/metrics"

// newRegistry is a registry with the Go runtime's and the process' collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in Prometheus' formats (text unless the scraper asks for
// another). At most a few scrapes run at once and each is bounded in time, so a
// flood of scrapes cannot pile up; errors go to log.
func Handler(reg prometheus.Gatherer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slogPrinter{log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Mux serves h at Path only (404 elsewhere).
func Mux(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, h)
	return mux
}

// slogPrinter is promhttp's error logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("metrics: scrape error", "err", slog.AnyValue(v))
}
