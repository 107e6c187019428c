# syntax=docker/dockerfile:1
# flowyard container image: built in one stage, run from a second that holds only the
# compiled code and production dependencies, as a non-root user. The Helm chart runs it
# with a read-only root filesystem (/tmp is an emptyDir) and passes `flowyard` arguments
# (`run <topology> --roles ...`) as the container args.
#
#   docker build -t flowyard/flowyard:0.1.0 .
#   docker run --rm flowyard/flowyard:0.1.0 validate topologies/orders-fanout.yaml
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# @confluentinc/kafka-javascript's native addon (KAFKA_CLIENT=confluent) is compiled here, as
# `make install` does: infra/native-deps.sh installs the Debian build packages and prints
# CKJS_LINKING=dynamic and this Node's header folder for npm ci (README "Kafka clients").
COPY infra/lib.sh infra/native-deps.sh ./infra/
RUN bash infra/native-deps.sh >/dev/null && rm -rf /var/lib/apt/lists/*
# Dependencies first: this layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN native_env="$(bash infra/native-deps.sh)" && env $native_env npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    FLOWYARD_HTTP_PORT=9400
WORKDIR /app
# The addon links librdkafka's shared library from node_modules and the system's OpenSSL
# (zlib and zstd are in the slim image already).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libssl3 && rm -rf /var/lib/apt/lists/*
# uid/gid 10001 match the chart's podSecurityContext (runAsUser/runAsGroup).
RUN groupadd --system --gid 10001 flowyard \
 && useradd --system --uid 10001 --gid flowyard --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin flowyard
# Owned by root and not writable by the runtime user: the code cannot be changed at run time.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY schemas ./schemas
COPY topologies ./topologies
USER 10001:10001
# /metrics, /healthz, /readyz
EXPOSE 9400
ENTRYPOINT ["node", "bin/flowyard.js"]
CMD ["--help"]
