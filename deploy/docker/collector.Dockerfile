# syntax=docker/dockerfile:1
# Image inferno/collector: the collector: gRPC inferno.v1.Collector, grpc.health.v1, /metrics.
# Build from the repository root (BuildKit, for the cache mounts): `make images`, or
#   docker build -f deploy/docker/collector.Dockerfile -t inferno/collector:0.1.0 .
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
    cargo build --release --locked -p inferno-collector --bin inferno-collector \
    && install -D -m 0755 target/release/inferno-collector /out/inferno-collector

FROM ${RUNTIME}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="inferno-collector" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/inferno-collector /usr/local/bin/inferno-collector
USER 65532:65532
# The ops listener (--ops-listen, default 0.0.0.0:3311: /healthz, /metrics). The gRPC API listens
# on 127.0.0.1:3301 by default, for the other containers of the pod only: not exposed.
EXPOSE 3311
ENTRYPOINT ["/usr/local/bin/inferno-collector"]
