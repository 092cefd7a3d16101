# syntax=docker/dockerfile:1
# One image for every orderflow subcommand: ingress, processor, all, migrate, topics, ...

# ---- build ------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
# librdkafka (bundled by rdkafka) builds with make and a C/C++ toolchain; it and the JWKS
# client link the system OpenSSL (TLS to MSK, SASL/SCRAM, https).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config python3 libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Queries are checked at run time, not against a database at build time: nothing to reach.
ENV SQLX_OFFLINE=true CARGO_TERM_COLOR=never

# Dependency layer: built from the manifests alone, cached until they change.
COPY Cargo.toml Cargo.lock ./
COPY crates/domain/Cargo.toml crates/domain/
COPY crates/codec/Cargo.toml crates/codec/
RUN mkdir -p src crates/domain/src crates/codec/src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs crates/domain/src/lib.rs crates/codec/src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src crates/domain/src crates/codec/src

COPY crates crates
COPY src src
COPY migrations migrations
COPY .sqlx .sqlx
COPY schemas schemas
RUN touch src/main.rs src/lib.rs crates/domain/src/lib.rs crates/codec/src/lib.rs \
 && cargo build --release --locked \
 && strip target/release/orderflow

# ---- runtime ----------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin orderflow
COPY --from=build /src/target/release/orderflow /usr/local/bin/orderflow
USER 10001:10001
# Listen on every interface inside the container; defaults are loopback-only.
ENV ORDERFLOW_HTTP_ADDR=0.0.0.0:3000 \
    ORDERFLOW_METRICS_ADDR=0.0.0.0:9464 \
    ORDERFLOW_LOG_FORMAT=json
EXPOSE 3000 9464
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9464/metrics >/dev/null || exit 1
ENTRYPOINT ["orderflow"]
CMD ["all"]
