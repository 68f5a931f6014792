# stacforge: the two commands of the README are `make demo` and `make test`.
CARGO   ?= cargo
BIN     := target/debug/stacforge
# The official STAC schemas, laid out by URL, for offline validation.
SCHEMAS ?= $(firstword $(wildcard $(STACFORGE_SCHEMAS)) $(wildcard ../shared/stac-schemas))

.PHONY: deps interop servers build demo test lint fixtures bench bench-quick clean

deps:
	bash scripts/install-system-deps.sh

interop: deps
	bash scripts/setup-interop.sh

servers: deps
	bash scripts/install-test-servers.sh

build: deps
	$(CARGO) build --locked

# The whole path through `stacforge run` on the bundled fixtures: GeoTIFFs
# and a MODIS granule to COGs, a NetCDF series to a Zarr store and to
# references, in one validated catalog under ./demo-out/ (scripts/demo.sh).
demo: build interop
	BIN=$(BIN) SCHEMAS=$(SCHEMAS) bash scripts/demo.sh

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Formatting, lints, unit, integration, snapshot and interop tests, then a
# smoke run of the benchmark suite (harness and equivalence checks; the
# debug build, so its timings mean nothing).
test: interop servers lint
	bash scripts/test-summary.sh $(CARGO) test --workspace --locked
	STACFORGE_BENCH_BIN=$(BIN) bench/run --quick
	STACFORGE_BENCH_BIN=$(BIN) bench/run --scale --quick

# The benchmark suite against the peer tools (see README, Benchmarks).
bench: deps
	bench/run

bench-quick: deps
	bench/run --quick

# Regenerate fixtures/ with the project's own generator.
fixtures: interop
	$(CARGO) run --locked -p stacforge-fixtures
	.venv/bin/python fixtures/modis/generate.py
	.venv/bin/python fixtures/imerg/generate.py
	.venv/bin/python fixtures/netcdf/generate.py
	python3 fixtures/vector/generate.py fixtures/vector

clean:
	rm -rf demo-out
	$(CARGO) clean
