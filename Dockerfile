# syntax=docker/dockerfile:1
# em-metrics: build with the Rust toolchain, run on distroless (no shell, no
# package manager), as a non-root user, with the SQLite file on a volume.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked \
 && mkdir -p /out/data \
 && cp target/release/em-metrics /out/em-metrics

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/em-metrics /usr/local/bin/em-metrics
# The nonroot user (65532) owns /data, so the volume is writable without root.
COPY --from=build --chown=65532:65532 /out/data /data
# The SQLite file is em-metrics.db in the working folder /data (SQLITE_DB's
# default). SQLITE_DB is not set here: DATABASE_URL may choose PostgreSQL
# instead, and naming both stores stops the start.
WORKDIR /data
ENV HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 3000
USER 65532:65532
# No curl in the image: the binary asks its own /health.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/em-metrics", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/em-metrics"]
