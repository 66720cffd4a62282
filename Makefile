# kotanet — every target does its own set-up; stamp files keep re-runs fast.
# `make demo` a live Sampit fleet on loopback · `make test` lint + types + the whole suite
# `make bench` headline figures -> docs/benchmarks.md · `make deps` apt packages (root)

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The one list of Debian packages the project needs (tests, demo, bench). Add yours here.
APT_PACKAGES := python3-venv mosquitto mosquitto-clients nftables dnsmasq-base iproute2 conntrack \
                isc-dhcp-client iperf3 hostapd chromium fonts-dejavu-core prometheus \
                prometheus-node-exporter postgresql cloud-init openssl debootstrap lintian \
                dosfstools fusefat

# `make demo` needs only these (a non-root user with them installed can run the demo).
DEMO_APT_PACKAGES := python3-venv mosquitto

PYTHON   ?= python3
VENV     := .venv
VPY      := $(VENV)/bin/python
STAMPS   := run/.stamps
PYTEST_ARGS ?=

.PHONY: help demo demo-deps test bench bench-quick lint venv deps noc-assets clean-stamps deb fuzz wheel

# Front-end libraries of the NOC (leaflet, uplot) from the npm registry, versions locked in
# package-lock.json; copied into central/noc/static/vendor/ (git-ignored).
NOC_ASSETS := central/noc/static/vendor/.stamp
noc-assets: $(NOC_ASSETS)
$(NOC_ASSETS): package.json package-lock.json central/noc/assets.py | venv
	@command -v npm >/dev/null || APT_PACKAGES="nodejs npm" scripts/ensure_deps.sh
	npm ci --no-audit --no-fund --loglevel=error
	$(VPY) -m central.noc assets node_modules
	@touch $@

help:  ## show the targets
	@echo "kotanet make targets:"
	@echo "  make demo    private mosquitto + central (SQLite) + 20 simulated Sampit nodes; Ctrl-C stops"
	@echo "  make test    deps + venv, then ruff, mypy and the whole pytest suite (CI=true: skips fail)"
	@echo "  make bench   run every bench/*.py in full via bench/report.py, write docs/benchmarks.md"
	@echo "  make bench-quick  the same with --quick (fewer runs, about 5 minutes)"
	@echo "  make lint    ruff + mypy only"
	@echo "  make deb     the agent's Debian package (Architecture: all) -> run/deb/"
	@echo "  make wheel   the kotanet wheel with the NOC's front-end files (leaflet, uplot) -> dist/"
	@echo "  make fuzz    fuzz every tests/fuzz handler, FUZZ_EXAMPLES (100000) examples each"
	@echo "  make venv    create $(VENV) and pip install -e '.[dev]' (re-runs only if pyproject changes)"
	@echo "  make deps    apt-get install the Debian packages (root), or say what is missing"
	@echo "APT_PACKAGES = $(APT_PACKAGES)"

deps: $(STAMPS)/deps
$(STAMPS)/deps: Makefile
	@APT_PACKAGES="$(APT_PACKAGES)" scripts/ensure_deps.sh
	@mkdir -p $(STAMPS) && touch $@

venv: $(VENV)/.kotanet-installed
$(VENV)/.kotanet-installed: pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@mkdir -p run && echo "pip install -e '.[dev]' (log: run/pip.log)" && \
	  $(VPY) -m pip install --disable-pip-version-check -e '.[dev]' >run/pip.log 2>&1 \
	  || { tail -n 30 run/pip.log; exit 1; }
	@touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: deps venv noc-assets
	@echo "== ruff";   t0=$$(date +%s); $(VENV)/bin/ruff check . && echo "ruff: $$(( $$(date +%s) - t0 ))s"
	@echo "== mypy";   t0=$$(date +%s); $(VENV)/bin/mypy && echo "mypy: $$(( $$(date +%s) - t0 ))s"
	@echo "== pytest"; t0=$$(date +%s); $(VENV)/bin/pytest -q $(PYTEST_ARGS); rc=$$?; \
	  echo "pytest: $$(( $$(date +%s) - t0 ))s"; exit $$rc

demo-deps: $(STAMPS)/demo-deps
$(STAMPS)/demo-deps: Makefile
	@APT_PACKAGES="$(DEMO_APT_PACKAGES)" scripts/ensure_deps.sh
	@mkdir -p $(STAMPS) && touch $@

demo: demo-deps venv noc-assets
	$(VPY) scripts/demo.py

bench: deps venv noc-assets
	$(VPY) bench/report.py

# Property fuzzing of every handler in tests/fuzz (make test runs the same tests, bounded).
FUZZ_EXAMPLES ?= 100000
fuzz: venv
	$(VPY) tests/fuzz/run.py --examples $(FUZZ_EXAMPLES)

bench-quick: deps venv noc-assets
	$(VPY) bench/report.py --quick

# The node's agent as a Debian package built from the wheel; python3-* dependencies from Debian.
deb: venv
	@command -v dpkg-deb >/dev/null || APT_PACKAGES="dpkg" scripts/ensure_deps.sh
	$(VPY) scripts/build_deb.py --out run/deb

# The installable distribution (central, agent, provisioning): noc-assets first, so the wheel
# carries central/noc/static/vendor/ (leaflet, uplot and their licences) from the locked npm
# packages; the build refuses to finish without them.
wheel: venv noc-assets
	@rm -rf build && mkdir -p dist
	$(VPY) -m pip wheel --no-deps --disable-pip-version-check -w dist . >run/wheel.log 2>&1 \
	  || { tail -n 30 run/wheel.log; exit 1; }
	$(VPY) scripts/check_wheel.py dist/kotanet-*.whl

clean-stamps:  ## force set-up to run again
	rm -rf $(STAMPS)
