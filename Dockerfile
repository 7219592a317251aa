# floe container image: multi-stage build, distroless runtime, non-root.
#
#   docker build -t floe:0.1.0 .
#   docker run --rm -p 9090:9090 -e AWS_REGION=eu-west-1 -v $PWD/floe.toml:/etc/floe/floe.toml:ro \
#     -e FLOE_CONFIG=/etc/floe/floe.toml floe:0.1.0
#
# Configuration comes from FLOE_* variables and/or a mounted file (FLOE_CONFIG); AWS credentials
# from the standard chain (the ECS task role in production). No Docker engine runs on the
# development machines of this project, so this file is linted by tests/infra, not built in CI.

# ---- build ------------------------------------------------------------------------------
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
# Dependency-cache layer: build the dependency tree against stub sources first, so a change to
# floe's own code does not rebuild DataFusion, Iceberg and the AWS SDKs.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/it \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/it/main.rs \
    && cargo build --release --locked --bin floe \
    && rm -rf src tests
COPY src src
COPY sql sql
COPY catalog catalog
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin floe \
    && strip target/release/floe \
    && mkdir -p /empty/dedup

# ---- runtime ----------------------------------------------------------------------------
# distroless/cc: glibc, libgcc, CA certificates (for TLS to AWS), no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/floe /usr/local/bin/floe
# Silver's dedup state spills past silver.dedup_memory here (ADR 0017). Owned by the runtime
# user so that a volume mounted on it (the Terraform module's bind mount on Fargate ephemeral
# storage, which takes the image path's ownership) stays writable with a read-only root.
COPY --from=build --chown=65532:65532 /empty/dedup /var/lib/floe/dedup
# glibc's malloc gives each concurrently allocating thread its own arena and keeps what they
# freed: two arenas took a 1M-event load's peak RSS from 898 to 622 MiB (BENCHMARKS.md, "Peak RSS
# and the allocator"). A fixed 4 MiB mmap threshold returns the big per-round buffers at once
# instead of keeping them in the arenas: a 10M-event backlog 800 -> 648 MiB for ~3 % CPU (ADR 0022).
ENV FLOE_METRICS_PORT=9090 \
    FLOE_WAREHOUSE=/tmp/floe \
    FLOE_SILVER_DEDUP_SPILL_DIR=/var/lib/floe/dedup \
    GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=4194304
VOLUME ["/var/lib/floe/dedup"]
USER nonroot:nonroot
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["floe", "healthcheck"]
ENTRYPOINT ["floe"]
CMD ["run"]
