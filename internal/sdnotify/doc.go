// Package sdnotify tells a service manager (systemd's Type=notify) how the
// daemon is doing: READY=1 once it really serves, RELOADING=1 (with
// MONOTONIC_USEC) then READY=1 around a reload, STOPPING=1 when it begins to
// shut down, and free-form STATUS= lines.
//
// It implements the sd_notify(3) protocol directly instead of importing
// go-systemd: the protocol is one datagram of newline-separated KEY=VALUE
// lines written to the unixgram socket named by $NOTIFY_SOCKET, either a file
// path or, with a leading '@', a name in Linux's abstract namespace. Without
// $NOTIFY_SOCKET (not under systemd, or a unit that is not Type=notify) every
// call does nothing, so daemons call it unconditionally.
//
// FromEnv removes NOTIFY_SOCKET from the environment after reading it, as
// sd_notify's unset_environment does: plugin processes and other children must
// not speak for the daemon (systemd's default NotifyAccess=main would ignore
// them anyway).
package sdnotify
