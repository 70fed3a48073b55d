# thingd — see README.md. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
VERSION    ?= $(shell cat packaging/VERSION 2>/dev/null || echo 0.0.0)
COMMIT     ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
BUILD_TIME ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
LDFLAGS    := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildTime=$(BUILD_TIME)
GO         ?= go
export CGO_ENABLED := 0

# Debian packages the tests start for real (design §6).
DEPS_BIN := mosquitto mosquitto_sub chronyd faketime systemd-nspawn debootstrap qemu-arm-static tinyproxy setpriv
DEPS_PKG := mosquitto mosquitto-clients chrony faketime systemd-container debootstrap qemu-user-static tinyproxy util-linux

# Development-only tools (nfpm, staticcheck, the bbolt comparison) are a separate module,
# so thingd's own module graph stays small and builds with Go 1.22 (docs/packaging.md).
TOOLS := internal/tools
# The lowest Go thingd supports: Yocto scarthgap's. `make go122` builds and vets with it;
# the go command fetches that toolchain through the module proxy once, then caches it.
GO_MIN_TOOLCHAIN ?= go1.22.12

.PHONY: all build test lint gotest armtest go122 deps cross demo bench queuebench deb e2e chaos clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/thingd ./cmd/thingd

# Installs what the tests need, then runs every gate. Keep it under ~20 minutes.
test: deps lint go122 gotest armtest e2e

# Installs the Debian packages the tests start for real. A temporary policy-rc.d keeps
# apt from starting their system services: the tests run their own on loopback ports,
# and a system chronyd could adjust this machine's clock.
deps:
	@missing=""; for b in $(DEPS_BIN); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing test dependencies (missing:$$missing)"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root, or: sudo apt-get install -y $(DEPS_PKG)"; exit 1; fi; \
	  policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    policy=/usr/sbin/policy-rc.d; printf '#!/bin/sh\nexit 101\n' > $$policy; chmod 755 $$policy; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $(DEPS_PKG) >/dev/null; rc=$$?; \
	  [ -n "$$policy" ] && rm -f $$policy; exit $$rc; \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOARCH=arm GOARM=7 $(GO) vet ./...
	cd $(TOOLS) && $(GO) build -o $(CURDIR)/bin/staticcheck honnef.co/go/tools/cmd/staticcheck
	bin/staticcheck ./...
	cd $(TOOLS) && $(GO) vet ./... && $(CURDIR)/bin/staticcheck ./...

# thingd (daemon, CLI, tests) compiled and vetted by the Go 1.22 compiler itself; `go vet`'s
# stdversion check in lint catches newer APIs, this catches anything else (language changes).
go122:
	GOTOOLCHAIN=$(GO_MIN_TOOLCHAIN) $(GO) version
	GOTOOLCHAIN=$(GO_MIN_TOOLCHAIN) $(GO) vet ./...
	GOTOOLCHAIN=$(GO_MIN_TOOLCHAIN) GOARCH=arm GOARM=7 $(GO) build -trimpath -o /dev/null ./cmd/thingd

gotest:
	CGO_ENABLED=1 $(GO) test -race -timeout 20m ./...
	cd $(TOOLS) && $(GO) test -count=1 ./nfpmcheck/

# 32-bit ARM (Pi 2/3 userland): the packages that parse, pack bytes or count with 64-bit
# atomics run under qemu-arm-static. The MQTT round trip on armv7 is TestPubSubOnARMv7.
ARM_PKGS := ./daemon/config/ ./daemon/limits/ ./daemon/queue/ ./daemon/local/ ./daemon/telemetry/ ./cmd/thingd/internal/kit/ ./clock/
armtest:
	GOARCH=arm GOARM=7 $(GO) test -short -exec qemu-arm-static -timeout 10m $(ARM_PKGS)

cross:
	@for t in arm:6:armv6 arm:7:armv7 arm64::arm64 amd64::amd64; do \
	  IFS=: read -r arch arm name <<<"$$t"; \
	  GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$$name/thingd ./cmd/thingd || exit 1; \
	  echo "bin/$$name/thingd $$(stat -c %s bin/$$name/thingd) bytes"; \
	done

# A local mutual-TLS broker (Go) and NTP server, and the real thingd against them. Needs only Go.
demo: build
	$(GO) build -o bin/thingd-demo ./cmd/thingd-demo
	bin/thingd-demo --thingd bin/thingd

# Speed, memory and durability side by side with mosquitto, written to docs/BENCHMARKS.md (~6 min).
bench: build
	$(GO) run ./cmd/thingd-bench bench --out docs/BENCHMARKS.md

DEB_ARCHES ?= amd64 arm64 armhf armel

deb:
	@for a in $(DEB_ARCHES); do \
	  VERSION=$(VERSION) COMMIT=$(COMMIT) BUILD_TIME=$(BUILD_TIME) GO=$(GO) packaging/build-deb.sh $$a || exit 1; \
	done
	@ls -l dist/*.deb

# The amd64 and armhf .debs installed with dpkg -i into cached Debian roots, booted with
# systemd-nspawn (no CAP_SYS_TIME), checked through systemctl/journalctl; the armhf root
# runs under qemu-user through binfmt_misc, which the test registers. See docs/e2e.md.
e2e:
	@for a in amd64 armhf; do \
	  VERSION=$(VERSION) COMMIT=$(COMMIT) BUILD_TIME=$(BUILD_TIME) GO=$(GO) packaging/build-deb.sh $$a || exit 1; \
	done
	THINGD_E2E=1 $(GO) test -v -count=1 -timeout 30m ./packaging/e2e/

# The segment log against a bbolt B+tree (docs/queue.md); bbolt lives in the tools module.
queuebench:
	cd $(TOOLS) && $(GO) test -run XXX -bench . ./queuebench/

# Two runs of 100 k messages through SIGKILLs and network cuts, each writing its own section:
# against mosquitto with broker restarts (~2 min), then against the AWS-like broker with a
# message the IoT policy denies and every 50th PUBACK dropped (~4 min). Short versions run in
# make test (TestChaosShort, TestChaosShortAWS).
chaos: build
	$(GO) run ./cmd/thingd-bench chaos $(CHAOS_FLAGS) --out docs/BENCHMARKS.md
	$(GO) run ./cmd/thingd-bench chaos --aws $(CHAOS_FLAGS) --out docs/BENCHMARKS.md

clean:
	rm -rf bin dist
