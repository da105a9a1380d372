# syntax=docker/dockerfile:1.7
# The one `backrunner` image: every Deployment of the Helm chart (operator, proxy), the
# storage-node StatefulSet and the operator's defrag Jobs run it with a different subcommand.
#
#   docker build -t backrunner:dev .
#   docker run --rm backrunner:dev --help
#
# Build stage: the whole workspace (Cargo needs every member's manifest), with the registry,
# git and target directories in BuildKit cache mounts so rebuilds only compile what changed.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --package backrunner --bin backrunner \
 && install -D -m 0755 target/release/backrunner /out/backrunner

# Runtime stage: Debian slim, because the chart's start scripts need a POSIX shell,
# `getent` (to resolve storage-node DNS names into the IP addresses Elliptics announces)
# and `sed`. No compiler, no package manager caches, no root.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 backrunner \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/backrunner \
      --shell /usr/sbin/nologin backrunner \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/backrunner /run/backrunner
COPY --from=build /out/backrunner /usr/local/bin/backrunner
USER 65532:65532
WORKDIR /var/lib/backrunner
# Node 1025 (Elliptics), proxy 9090 (HTTP) and 9443 (HTTPS), operator 8080.
EXPOSE 1025 8080 9090 9443
ENTRYPOINT ["/usr/local/bin/backrunner"]
CMD ["--help"]
