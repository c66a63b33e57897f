# syntax=docker/dockerfile:1
# The hive binary (every process: dev, uc, gate, game, tap, ...) in a small
# Debian image. Build: docker build -t hive . ; run: docker run -p 8082:8082
# -p 9000:9000 hive (hive dev) or see compose.yaml for the cluster.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/hive ./cmd/hive

FROM debian:bookworm-slim
# ca-certificates for TLS to NATS/etcd/redis; curl for the health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/hive --create-home hive \
 && install -d -o hive -m 0700 /var/lib/hive-secrets
# /var/lib/hive-secrets: where `hive secrets init` writes the NATS identities
# in compose (a volume mounted there starts owned by hive).
COPY --from=build /out/hive /usr/local/bin/hive
USER hive
WORKDIR /var/lib/hive
# Defaults every subcommand reads (flags win): data in the volume-able home,
# JSON logs for collectors.
ENV HIVE_DATA_DIR=/var/lib/hive HIVE_LOG_FORMAT=json
# 8082 uc HTTP, 9000 gate TCP, 9100 /metrics /healthz /readyz, 4222 dev's NATS
# (credentials required: the tools' seeds are in <data-dir>/secrets).
EXPOSE 8082 9000 9100 4222
ENTRYPOINT ["hive"]
CMD ["dev", "--nats-listen", "0.0.0.0:4222", "--metrics-listen", ":9100"]
