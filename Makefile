# sfsync — two-way sync between Salesforce and Postgres.
#
#   make demo    set up, start Postgres + the Salesforce emulator + the sidecar, show data flowing
#   make test    set up and run every test
#   make bench   run the benchmarks and print a table of ratios
#
# Everything runs as root (CI) or as a user with sudo. Postgres refuses to run as root, so test
# clusters are created as the `postgres` user under $(SFSYNC_TMP), which that user can reach.

SHELL := /bin/bash
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PG_BIN := $(shell dirname $(PG_CONFIG))
CARGO ?= cargo
SFSYNC_TMP ?= /var/tmp/sfsync
export SFSYNC_TMP PG_CONFIG
PGRX_VERSION := 0.18.0
# install scripts of released versions, kept as they shipped (sql/sfsync--X.Y.Z.sql; never edited)
FROZEN_SQL := $(filter-out $(wildcard sql/sfsync--*--*.sql),$(wildcard sql/sfsync--*.sql))
APT_PACKAGES := postgresql-15 postgresql-server-dev-15 libclang-dev clang sudo chromium chromium-driver
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
SUDO := $(if $(IS_ROOT),,sudo)
# cargo pgrx test as root must run Postgres as another user
PGRX_RUNAS := $(if $(IS_ROOT),--runas postgres --pgdata $(SFSYNC_TMP)/pgrx-test,)
PGRX_INSTALL_SUDO := $(if $(IS_ROOT),,--sudo)
# The third-party Salesforce clients the emulator's client tests run (pinned in emulator/tests/clients/)
CLIENT_TOOLS ?= $(CURDIR)/target/client-tools
export SFSYNC_CLIENT_TOOLS := $(CLIENT_TOOLS)

.PHONY: all setup install build client-tools test test-sql test-extension test-workspace test-demo bench bench-capture demo demo-stop fmt lint clean

all: build

## setup: install what is missing (idempotent)
setup:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing$$missing"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PACKAGES); \
	else echo "setup: Debian packages present"; fi
	@if [ "$$(cargo pgrx --version 2>/dev/null | awk '{print $$2}')" != "$(PGRX_VERSION)" ]; then \
		echo "setup: installing cargo-pgrx $(PGRX_VERSION)"; \
		$(CARGO) install --locked cargo-pgrx --version $(PGRX_VERSION); \
	else echo "setup: cargo-pgrx $(PGRX_VERSION) present"; fi
	@if ! grep -qs '^pg15 = "$(PG_CONFIG)"' $${PGRX_HOME:-$$HOME/.pgrx}/config.toml; then \
		echo "setup: cargo pgrx init --pg15 $(PG_CONFIG)"; \
		$(CARGO) pgrx init --pg15 $(PG_CONFIG); \
	else echo "setup: pgrx is initialised for Postgres 15"; fi
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		echo "setup: installing Debian's nodejs and npm (they install the client tools)"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm; \
	else echo "setup: node and npm present"; fi
	@$(SUDO) mkdir -p $(SFSYNC_TMP) && $(SUDO) chmod 1777 $(SFSYNC_TMP)

## install: release build of the extension into the system Postgres 15, with the frozen install
## scripts of released versions (cargo pgrx install copies only the upgrade scripts)
install: setup
	$(CARGO) pgrx install --release -p sfsync --pg-config $(PG_CONFIG) $(PGRX_INSTALL_SUDO)
	$(SUDO) install -m 644 $(FROZEN_SQL) "$$($(PG_CONFIG) --sharedir)/extension/"

## build: the sidecar and the emulator (release)
build:
	$(CARGO) build --release -p sfsync-sidecar -p sfsync-emulator

## client-tools: the Salesforce CLI, jsforce and Node.js 22 from npm, for the emulator's client tests (idempotent)
client-tools:
	emulator/tests/clients/install.sh $(CLIENT_TOOLS)

## test: every test in the repository
test: setup
	$(MAKE) test-extension
	$(MAKE) install
	$(MAKE) test-sql
	$(MAKE) test-workspace
	$(MAKE) test-demo

## test-sql: the SQL regression tests (tests/pg_regress: SQL files and their expected output) against
## the installed extension; `scripts/pg-regress --accept NAME` records a new test's output
test-sql:
	scripts/pg-regress

test-extension:
	@$(SUDO) mkdir -p $(SFSYNC_TMP)/pgrx-test && $(if $(IS_ROOT),chown postgres $(SFSYNC_TMP)/pgrx-test,true)
	$(CARGO) test -p sfsync --lib
	# one at a time: parallel #[pg_test]s create the same schemas and tables and could deadlock;
	# CARGO_PGRX: see scripts/cargo-pgrx-sfsync
	CARGO_PGRX=$(CURDIR)/scripts/cargo-pgrx-sfsync RUST_TEST_THREADS=1 $(CARGO) pgrx test pg15 -p sfsync $(PGRX_RUNAS)

test-workspace: build client-tools
	$(CARGO) test --release --workspace --exclude sfsync

## test-demo: the demo script end to end, on its own port and directory, then demo-stop
test-demo: build
	scripts/test-demo

## bench: every benchmark; prints one table and writes bench/results.json
bench: install build
	bench/run-all

## bench-capture: capture overhead with pgbench (no trigger, sfsync, Heroku-Connect-style trigger)
bench-capture: install
	bench/capture/run

## demo: a local Postgres, the emulator and the sidecar, with data flowing both ways
demo: setup install build
	scripts/demo

demo-stop:
	scripts/demo-stop

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
