# Inferno: build, test, benchmark and demo targets. `make test` is what CI runs (.ci/run).

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all build test lint fmt-check clippy unit doc bench demo clean

all: build

build:
	$(CARGO) build --workspace --locked

## test: everything CI checks: formatting, clippy (warnings are errors), all tests, docs.
test: fmt-check clippy unit doc

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

lint: fmt-check clippy

## bench: the benchmarks (medians per call), optimised build.
bench:
	$(CARGO) bench --workspace --locked

## demo: until the control loop exists, solve the large sample system with the optimizer CLI.
demo:
	$(CARGO) run --release --locked -p inferno-optimizer --bin inferno-optimizer -- solve samples/large

clean:
	$(CARGO) clean
