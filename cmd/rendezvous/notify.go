package main

import "log/slog"

// notifyErr logs a notification to the service manager (sd_notify) that could
// not be sent; it never stops the rendezvous.
func notifyErr(log *slog.Logger, state string, err error) {
	if err != nil {
		log.Warn("cannot notify the service manager", "state", state, "err", err)
	}
}
