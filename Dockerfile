# syntax=docker/dockerfile:1
# A static (musl) metrics-server binary on a distroless static base, running as a non-root
# user, like upstream's image (gcr.io/distroless/static, USER 65534, ENTRYPOINT /metrics-server).
#
#   docker build -t metrics-server-rs:0.1.0 .
#
# The binary is fully static: `ldd metrics-server` says "not a dynamic executable".

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY build.rs ./
COPY src ./src
COPY benches ./benches
# The workspace's tool crates (simulator, bench): their manifests are needed to resolve the
# workspace; only the server package is built.
COPY sim ./sim
COPY bench ./bench
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p metrics-server-rs --bin metrics-server \
 && cp target/x86_64-unknown-linux-musl/release/metrics-server /metrics-server \
 && strip /metrics-server

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /metrics-server /metrics-server
USER 65534:65534
EXPOSE 10250
ENTRYPOINT ["/metrics-server"]
