#!/bin/sh
# `make images` on a machine with a Docker Engine and no registry (nothing can be pulled): one
# runtime-only image per binary, from local material only.
#
# 1. The base image `${IMAGE_PREFIX}base:local` is imported from a folder holding what the
#    binaries need and nothing else: the dynamic loader and the libraries `ldd` lists for them
#    (glibc, libm, libgcc_s: Debian's, as on the machine that built them), Debian's CA
#    certificates, and /etc/passwd and /etc/group with the user nonroot (65532), as in
#    distroless. No shell, no package manager.
# 2. Each image is that base plus the host's release build of its binary
#    (`cargo build --release` once for all of them, so the workspace compiles once), with the
#    OCI labels (version, revision, source), user 65532 and the binary as entrypoint.
#
# The Dockerfiles next to this script build the same images on a normal machine (BuildKit,
# public builder and runtime images as build arguments). Environment: DOCKER, IMAGE_PREFIX,
# IMAGE_TAG, IMAGES (space-separated names), SOURCE (the repository's address for the label).
set -eu

DOCKER=${DOCKER:-docker}
PREFIX=${IMAGE_PREFIX:-inferno/}
TAG=${IMAGE_TAG:-0.1.0}
IMAGES=${IMAGES:-controller collector optimizer actuator vllm-emulator load-emulator}
root=$(cd "$(dirname "$0")/../.." && pwd)
release="$root/target/release"
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
        *) echo "" ;;
    esac
}

for image in $IMAGES; do
    if [ ! -x "$release/inferno-$image" ]; then
        echo "error: $release/inferno-$image is missing: run 'cargo build --release --workspace --bins' first" >&2
        exit 1
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

base="$work/base"
mkdir -p "$base/etc/ssl/certs" "$base/tmp" "$base/home/nonroot"
for image in $IMAGES; do
    ldd "$release/inferno-$image"
done | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | sort -u | while read -r lib; do
    mkdir -p "$base$(dirname "$lib")"
    cp -L "$lib" "$base$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$base/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$base/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$base/etc/group"
chmod 1777 "$base/tmp"
echo "$DOCKER import ${PREFIX}base:local ($(du -sk "$base" | cut -f1) KiB)"
tar -C "$base" --numeric-owner --owner=0 --group=0 -c . |
    "$DOCKER" import --change 'USER 65532:65532' - "${PREFIX}base:local" >/dev/null

for image in $IMAGES; do
    context="$work/$image"
    mkdir -p "$context"
    cp "$release/inferno-$image" "$context/"
    expose=$(port "$image")
    {
        echo "FROM ${PREFIX}base:local"
        echo "COPY inferno-$image /usr/local/bin/inferno-$image"
        echo "LABEL org.opencontainers.image.title=\"inferno-$image\" \\"
        echo "      org.opencontainers.image.version=\"$TAG\" \\"
        echo "      org.opencontainers.image.revision=\"$revision\" \\"
        echo "      org.opencontainers.image.source=\"$source\" \\"
        echo "      org.opencontainers.image.licenses=\"Apache-2.0\""
        echo "USER 65532:65532"
        if [ -n "$expose" ]; then echo "EXPOSE $expose"; fi
        echo "ENTRYPOINT [\"/usr/local/bin/inferno-$image\"]"
    } >"$context/Dockerfile"
    echo "$DOCKER build -t ${PREFIX}$image:$TAG (local: the host's release build on ${PREFIX}base:local)"
    # The classic builder: it needs no BuildKit component, and these images have one stage.
    DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "${PREFIX}$image:$TAG" "$context" >/dev/null \
        2>"$work/build.log" || { cat "$work/build.log" >&2; exit 1; }
done

"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
    grep -E "^${PREFIX}(base|$(echo "$IMAGES" | tr ' ' '|')):" | sort
