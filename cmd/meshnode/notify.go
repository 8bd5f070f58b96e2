package main

import (
	"context"
	"time"

	"github.com/meshnode/meshnode/pkg/control/client"
)

// readyProbeTimeout bounds the control socket's first answer before the
// node tells systemd it is ready.
const readyProbeTimeout = 30 * time.Second

// notifyReady tells the service manager (Type=notify) that the node is ready
// once its control socket answers a status request, so `meshnode status` works
// from the moment `systemctl start` returns. A socket that does not answer is
// logged and READY=1 is not sent: systemd's start timeout then fails the unit.
// Without NOTIFY_SOCKET it does nothing.
func (d *daemon) notifyReady(ctx context.Context) {
	n := d.a.env.notify
	if !n.Enabled() {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, readyProbeTimeout)
	defer cancel()
	if _, err := client.New(d.start.paths.control).Status(pctx); err != nil {
		if ctx.Err() == nil {
			d.log.Error("the control socket does not answer; not telling the service manager that the node is ready",
				"path", d.start.paths.control, "err", err)
		}
		return
	}
	d.notifyErr("READY=1", n.Ready())
}

// notifyStopping sends STOPPING=1 when ctx ends (SIGTERM, SIGINT, `meshnode
// down`); the returned wait makes sure it went out before `up` returns.
func (d *daemon) notifyStopping(ctx context.Context) (wait func()) {
	return d.a.env.notify.StoppingOnDone(ctx, func(err error) { d.notifyErr("STOPPING=1", err) })
}

// notifyReloading and notifyReloaded bracket a reload: RELOADING=1 (with
// MONOTONIC_USEC), then READY=1 whether the file was accepted or not.
func (d *daemon) notifyReloading() { d.notifyErr("RELOADING=1", d.a.env.notify.Reloading()) }
func (d *daemon) notifyReloaded()  { d.notifyErr("READY=1", d.a.env.notify.Ready()) }

// notifyErr logs a notification that could not be sent; it never stops the node.
func (d *daemon) notifyErr(state string, err error) {
	if err != nil {
		d.log.Warn("cannot notify the service manager", "state", state, "err", err)
	}
}
