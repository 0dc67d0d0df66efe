# syntax=docker/dockerfile:1
# Image inferno/load-emulator: the load emulator of deploy/optional/load-emulator.yaml (rewrites
# the load labels of the managed Deployments; no port).
# Build from the repository root (BuildKit, for the cache mounts): `make images`, or
#   docker build -f deploy/docker/load-emulator.Dockerfile -t inferno/load-emulator:0.1.0 .
# The builder compiles exactly what `cargo build --release` builds for this binary; the runtime
# image holds that one binary on distroless (glibc, CA certificates, no shell), as user nonroot.

# The toolchain the workspace is built and tested with (at least the highest rust-version of
# the locked dependencies: kube 5 needs 1.89; checked by crates/manifests).
ARG RUST_VERSION=1.95
# Builder and runtime images as build arguments: `make images` builds the same images on a
# machine with no registry from local material (deploy/docker/local-images.sh).
ARG BUILDER=docker.io/library/rust:${RUST_VERSION}-bookworm
ARG RUNTIME=gcr.io/distroless/cc-debian12:nonroot
FROM ${BUILDER} AS builder
WORKDIR /src
COPY . .
# The cargo registry and target directory are cache mounts shared by every image of the
# workspace, so the second image reuses the first one's dependencies; the binary is copied out
# of the cache in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,id=inferno-target,sharing=locked \
    cargo build --release --locked -p inferno-emulator --bin inferno-load-emulator \
    && install -D -m 0755 target/release/inferno-load-emulator /out/inferno-load-emulator

FROM ${RUNTIME}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="inferno-load-emulator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/inferno-load-emulator /usr/local/bin/inferno-load-emulator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/inferno-load-emulator"]
