// Package packaging holds what installs meshnode as a service, and the tests
// that prove it; there is no Go API here.
//
//   - install.sh: `just install` / `just uninstall` (PREFIX, DESTDIR, UNITDIR),
//     also used by dist.sh to stage the packages' file tree;
//   - systemd/: rendezvous.service, meshnode.service and meshnode@.service
//     (Type=notify, hardened; they name /usr/local/bin, which install.sh
//     rewrites for another PREFIX);
//   - etc/: the commented example configs installed into /etc/meshnode;
//   - dist.sh and nfpm.yaml: `just dist`, static linux/amd64 and linux/arm64
//     binaries, tarballs and .deb packages built by nfpm (run with `go run
//     nfpm@version`, so nfpm stays out of the product's go.mod), SHA256SUMS;
//   - deb/: the .deb's maintainer scripts (system user, daemon-reload; they
//     never enable or start a unit).
//
// The tests install into a scratch root with the real `just install`, check
// the layout and modes, run `systemd-analyze verify` on the installed units
// where it exists, and then start the daemons from the units' own ExecStart
// lines (scratch paths substituted, loopback ports) with a NOTIFY_SOCKET of
// their own, as systemd would: READY=1, RELOADING=1/READY=1 on SIGHUP through
// the unit's ExecReload, STOPPING=1 on `meshnode down` and SIGTERM.
package packaging
