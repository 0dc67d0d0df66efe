#!/bin/sh
# `make images` on a machine with a Docker Engine and no registry (nothing can be pulled): one
# runtime-only image per binary, from local material only.
#
# 1. The base image `${IMAGE_PREFIX}base:local` is imported from a folder holding what the
#    binaries need and nothing else: the dynamic loader and the libraries `ldd` lists for them
#    (glibc, libm, libgcc_s: Debian's, as on the machine that built them), Debian's CA
#    certificates, and /etc/passwd and /etc/group with the user nonroot (65532), as in
#    distroless. No shell, no package manager.
# 2. Each image is that base plus the host's build of its binary (release by default)
#    (`cargo build --release` once for all of them, so the workspace compiles once), with the
#    OCI labels (version, revision, source), user 65532 and the binary as entrypoint.
#
#    Every image also holds `inferno-probe` (crates/telemetry), its HEALTHCHECK: the images
#    have no shell and no curl. The services' images probe their ops port's /healthz by
#    default; INFERNO_PROBE_URL in the container's environment overrides it.
# 3. Two stand-ins for `make pod`, on the same base: `kubesim` (the in-memory API server) and
#    `prometheus`, the binary of Debian's package `prometheus` (`make tools` installs it).
#
# The Dockerfiles next to this script build the six deployable images on a normal machine
# (BuildKit, public builder and runtime images as build arguments: `make images-dockerfiles`).
# Environment: DOCKER, IMAGE_PREFIX, IMAGE_TAG, IMAGES (space-separated names), PROFILE
# (release, or debug to use the build `cargo test` leaves), SOURCE (the repository's address for
# the label), PROMETHEUS (the prometheus binary).
set -eu

DOCKER=${DOCKER:-docker}
PREFIX=${IMAGE_PREFIX:-inferno/}
TAG=${IMAGE_TAG:-0.1.0}
IMAGES=${IMAGES:-controller collector optimizer actuator vllm-emulator load-emulator}
PROFILE=${PROFILE:-release}
root=$(cd "$(dirname "$0")/../.." && pwd)
release="${CARGO_TARGET_DIR:-$root/target}/$PROFILE"
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
source=${SOURCE:-$(git -C "$root" config --get remote.origin.url 2>/dev/null || echo unknown)}

# The port each image's service listens on for the outside (docs/deploy.md), if any.
port() {
    case $1 in
        controller) echo 3300 ;;
        collector) echo 3311 ;;
        optimizer) echo 3312 ;;
        actuator) echo 3313 ;;
        vllm-emulator) echo 8000 ;;
        kubesim) echo 6443 ;;
        prometheus) echo 9090 ;;
        *) echo "" ;;
    esac
}

# What its HEALTHCHECK asks by default (the binaries' default ports), if anything: the
# emulators' `follow` and load modes serve nothing.
health() {
    case $1 in
        controller) echo http://127.0.0.1:3300/healthz ;;
        collector) echo http://127.0.0.1:3311/healthz ;;
        optimizer) echo http://127.0.0.1:3312/healthz ;;
        actuator) echo http://127.0.0.1:3313/healthz ;;
        kubesim) echo http://127.0.0.1:6443/version ;;
        prometheus) echo http://127.0.0.1:9090/-/ready ;;
        *) echo "" ;;
    esac
}

# The binary of an image.
binary() {
    case $1 in
        kubesim) echo "$release/kubesim" ;;
        prometheus) echo "${PROMETHEUS:-$(command -v prometheus || echo /usr/bin/prometheus)}" ;;
        *) echo "$release/inferno-$1" ;;
    esac
}

hint() {
    case $1 in
        prometheus) echo "install Debian's prometheus package ('make tools')" ;;
        *) if [ "$PROFILE" = debug ]; then flag=; else flag=" --profile $PROFILE"; fi
           echo "build it first ('cargo build$flag --workspace --bins')" ;;
    esac
}

for image in $IMAGES probe; do
    bin=$(binary "$image")
    [ "$image" != probe ] || bin="$release/inferno-probe"
    if [ ! -x "$bin" ]; then
        echo "error: $bin is missing: $(hint "$image")" >&2
        exit 1
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

base="$work/base"
mkdir -p "$base/etc/ssl/certs" "$base/tmp" "$base/home/nonroot"
for image in $IMAGES probe; do
    if [ "$image" = probe ]; then ldd "$release/inferno-probe"; else ldd "$(binary "$image")"; fi
done | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | sort -u | while read -r lib; do
    mkdir -p "$base$(dirname "$lib")"
    cp -L "$lib" "$base$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$base/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$base/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$base/etc/group"
chmod 1777 "$base/tmp"
mkdir -p "$base/usr/local/bin"
cp "$release/inferno-probe" "$base/usr/local/bin/inferno-probe"
echo "$DOCKER import ${PREFIX}base:local ($(du -sk "$base" | cut -f1) KiB)"
tar -C "$base" --numeric-owner --owner=0 --group=0 -c . |
    "$DOCKER" import --change 'USER 65532:65532' - "${PREFIX}base:local" >/dev/null

for image in $IMAGES; do
    context="$work/$image"
    mkdir -p "$context"
    bin=$(binary "$image")
    name=$(basename "$bin")
    cp "$bin" "$context/$name"
    expose=$(port "$image")
    probe=$(health "$image")
    title=inferno-$image version=$TAG
    if [ "$image" = prometheus ]; then
        title="prometheus (Debian package)"
        version=$("$bin" --version 2>&1 | awk 'NR == 1 { print $3 }')
    fi
    {
        echo "FROM ${PREFIX}base:local"
        echo "COPY $name /usr/local/bin/$name"
        echo "LABEL org.opencontainers.image.title=\"$title\" \\"
        echo "      org.opencontainers.image.version=\"$version\" \\"
        echo "      org.opencontainers.image.revision=\"$revision\" \\"
        echo "      org.opencontainers.image.source=\"$source\" \\"
        echo "      org.opencontainers.image.licenses=\"Apache-2.0\""
        echo "USER 65532:65532"
        if [ -n "$expose" ]; then echo "EXPOSE $expose"; fi
        if [ -n "$probe" ]; then
            echo "ENV INFERNO_PROBE_URL=$probe"
            echo "HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD [\"/usr/local/bin/inferno-probe\"]"
        fi
        echo "ENTRYPOINT [\"/usr/local/bin/$name\"]"
    } >"$context/Dockerfile"
    echo "$DOCKER build -t ${PREFIX}$image:$TAG (local: $bin on ${PREFIX}base:local)"
    # The classic builder: it needs no BuildKit component, and these images have one stage.
    DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "${PREFIX}$image:$TAG" "$context" >/dev/null \
        2>"$work/build.log" || { cat "$work/build.log" >&2; exit 1; }
done

"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
    grep -E "^${PREFIX}(base|$(echo "$IMAGES" | tr ' ' '|')):" | sort
