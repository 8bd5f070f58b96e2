# meshnode tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "bin"
version := `git describe --tags --always --dirty 2>/dev/null || echo dev`

# Where `just install` puts things (also from the environment):
# PREFIX/bin, PREFIX/lib/meshnode/plugins, UNITDIR; DESTDIR is a scratch root.
PREFIX := env("PREFIX", "/usr/local")
UNITDIR := env("UNITDIR", PREFIX / "lib/systemd/system")
DESTDIR := env("DESTDIR", "")

# Build meshnode, rendezvous and the reference plugins (bin/plugins, where
# meshnode looks by default) into ./bin
build:
    mkdir -p {{bin}}/plugins
    go build -trimpath -ldflags "-X main.version={{version}}" -o {{bin}}/meshnode ./cmd/meshnode
    go build -trimpath -ldflags "-X main.version={{version}}" -o {{bin}}/rendezvous ./cmd/rendezvous
    go build -trimpath -ldflags "-X main.version={{version}}" -o {{bin}}/plugins/meshnode-cipher-aesgcm ./plugins/aesgcm
    go build -trimpath -ldflags "-X main.version={{version}}" -o {{bin}}/plugins/meshnode-transport-websocket ./plugins/websocket

# Run a local demo mesh: rendezvous + two nodes + a mapped web page (Ctrl-C ends it)
demo *ARGS: build
    go run ./internal/demo --bin {{bin}} {{ARGS}}

# Lab tests need root; they skip otherwise. The race run leaves out the
# process-level suites (internal/e2e, the testbed lab, packaging): what they test
# runs in other processes, binaries built without -race, so the detector would
# watch only their harness, for 5+ minutes more. Every package with in-process
# concurrency is in it: ~1 min on 2 cores (+~35 s to build cold), so `just test`
# went from ~3.5 to ~4.5 min. The plain run stays: allocation checks hold only
# without -race. -race needs cgo, so gcc (.ci/run installs it). The bench smoke
# run keeps the harness from rotting (numbers are not checked).
# The whole test suite (what CI runs): lint, tests, tests under -race, bench smoke run
test: build lint
    go test -p 2 -timeout 20m ./...
    go test -race -p 2 -timeout 15m $(go list ./... | grep -vE '/internal/e2e$|/testbed$|/packaging$')
    go run ./internal/bench/cmd/meshbench --bin {{bin}} --quick --out ''

# `go run pkg@version` keeps staticcheck out of the product's go.mod; its first run
# downloads and builds it (~1 min), later runs use the module and build caches.
# Static analysis (part of `just test`): go vet, staticcheck (pinned version)
lint:
    go vet ./...
    go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Only the NAT lab tests (root)
lab-test:
    go test -p 1 -timeout 15m -v -count=1 ./testbed/...

# The NAT lab runner (root): just lab up testbed/two-sites.clab.yml | just lab down | just lab exec NODE -- CMD
[positional-arguments]
lab *ARGS: build
    go build -o {{bin}}/meshlab ./testbed/cmd/lab
    {{bin}}/meshlab "$@"

# Benchmarks against baselines measured in the same run (--quick for a smoke run);
# as root, the NAT lab rows follow (also appended to the --out file)
bench *ARGS: build
    go run ./internal/bench/cmd/meshbench --bin {{bin}} {{ARGS}}
    if [ "$(id -u)" = 0 ]; then go build -o {{bin}}/meshlab ./testbed/cmd/lab && go run ./testbed/cmd/labbench --bin {{bin}} --out bench-results/latest.md {{ARGS}}; else echo "(the NAT lab rows need root: sudo just lab-bench)"; fi

# The NAT lab rows of the benchmark (root): time to a direct path behind NATs, mapping vs plain TCP over a lossy WAN (also under a CPU hog), direct vs relay, cold start, the NAT matrix: every pair of NAT kinds 10 times, success rate and time to direct (--quick, --out FILE appends, --only SECTIONS)
lab-bench *ARGS: build
    go build -o {{bin}}/meshlab ./testbed/cmd/lab
    go run ./testbed/cmd/labbench --bin {{bin}} {{ARGS}}

# Run each fuzz target for a while (default 30s each)
fuzz TIME="30s":
    #!/usr/bin/env bash
    set -euo pipefail
    for pkg in $(go list ./...); do
      for f in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
        echo "== $pkg $f"
        go test -run '^$' -fuzz "^$f\$" -fuzztime {{TIME}} "$pkg"
      done
    done

# Install binaries, plugins, systemd units, example configs in /etc/meshnode (root; PREFIX=/usr/local, DESTDIR=scratch root)
install: build
    BIN={{quote(bin)}} PREFIX={{quote(PREFIX)}} UNITDIR={{quote(UNITDIR)}} DESTDIR={{quote(DESTDIR)}} packaging/install.sh install

# Remove the binaries, plugins and systemd units (root); config in /etc/meshnode and state stay
uninstall:
    PREFIX={{quote(PREFIX)}} UNITDIR={{quote(UNITDIR)}} DESTDIR={{quote(DESTDIR)}} packaging/install.sh uninstall

# Release artifacts in dist/: static linux/amd64+arm64 binaries, tarballs, .deb packages (nfpm), SHA256SUMS
dist:
    packaging/dist.sh {{quote(version)}}

fmt:
    gofmt -w $(git ls-files '*.go')

clean:
    rm -rf {{bin}}
