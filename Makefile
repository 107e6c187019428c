# flowyard: the two commands of the README are `make run` and `make test`; everything
# else here is what they are made of.
SHELL := /bin/bash
# Every target runs on Node 24, the supported LTS: infra/node.sh prints the folder of a Node 24,
# fetching it from the npm registry when the machine's node is older (README "Node versions").
NODE_BIN := $(shell bash infra/node.sh)
ifeq ($(NODE_BIN),)
$(error infra/node.sh found no Node 24 and could not install one; see its message above and README "Node versions")
endif
export PATH := $(NODE_BIN):$(PATH)
NODE_MODULES_STAMP := node_modules/.package-lock.json
TOPOLOGY ?= topologies/orders-demo.yaml
EVENTS ?= 200

.PHONY: run test install build typecheck lint check infra-up infra-down infra-status unit integration bench bench-compression bench-clients clean

## run: start the local servers, create the topics (and the demo's ledger table), run the orders dag with its
## PostgreSQL, Redis, webhook and Kafka destinations, send sample events, print what each destination received
run: build infra-up
	node bin/flowyard.js demo $(TOPOLOGY) --events $(EVENTS)

## test: install, start the servers the tests need, run every test, stop what was started
test: build
	bash infra/with-servers.sh $(MAKE) --no-print-directory check unit integration

## install: the Debian packages @confluentinc/kafka-javascript's native addon needs (infra/native-deps.sh, only when
## missing), then npm ci with the environment that compiles the addon for this Node (CKJS_LINKING=dynamic, its headers)
install: $(NODE_MODULES_STAMP)
$(NODE_MODULES_STAMP): package.json package-lock.json infra/native-deps.sh
	@native_env="$$(bash infra/native-deps.sh)" || exit 1; \
	echo "env $$(echo $$native_env) npm ci --no-audit --no-fund"; \
	env $$native_env npm ci --no-audit --no-fund
	@touch $@

build: install
	npm run --silent build

typecheck: install
	npm run --silent typecheck

lint: install
	npm run --silent lint

## check: typecheck and lint
check: typecheck lint

unit: install
	npm run --silent test:unit

integration: install
	npm run --silent test:integration

infra-up: install
	@for s in $$(source infra/lib.sh && echo $$LOCAL_SERVERS); do bash infra/$$s.sh up || exit 1; done

infra-down:
	@for s in $$(source infra/lib.sh && echo $$LOCAL_SERVERS | tr ' ' '\n' | tac); do bash infra/$$s.sh down; done

infra-status:
	@for s in $$(source infra/lib.sh && echo $$LOCAL_SERVERS); do bash infra/$$s.sh status || true; done

## bench: flowyard next to Java peers (plain copy, Kafka Streams ALOS / EOS v2 with 1 and 2 stream threads, Parallel Consumer with a 20 ms HTTP destination,
## built with Maven by bench/peers/build.sh) and end-to-end latency through real kafka sinks, medians of 3; flowyard's router and each destination's
## worker run in processes of their own as the Helm chart deploys them (BENCH_FLOWYARD_PROCESSES=1: all in one; =per-role,1: both). Kafka and Redis
## only (the registry and PostgreSQL would take CPU from a 2-core box); writes bench/results/<time>.json, prints the summary. BENCH_QUICK=1 for a
## short run; bench/README.md has the knobs and the older figures (BENCH_ONLY). Not part of `make test`
bench: build
	@FLOWYARD_LOCAL_SERVERS="kafka redis" $(MAKE) --no-print-directory infra-up
	bash bench/peers/build.sh
	node bench/run.mjs

## bench-compression: produce and consume the same events with each KAFKA_COMPRESSION codec (Kafka only); writes bench/results/compression-<time>.json
bench-compression: build
	@FLOWYARD_LOCAL_SERVERS="kafka" $(MAKE) --no-print-directory infra-up
	node bench/compression.mjs

## bench-clients: the Kafka clients behind the port (KAFKA_CLIENT kafkajs, confluent, platformatic) on the router's shape, client only:
## consume -> 3 topics with 7 headers, one transaction per partition batch (Kafka only); writes bench/results/clients-<time>.json
bench-clients: build
	@FLOWYARD_LOCAL_SERVERS="kafka" $(MAKE) --no-print-directory infra-up
	node bench/clients.mjs

## chaos: the fault scenario of issue #14 (kills, Redis and broker kill -9, PostgreSQL stopped) on its own private
## Kafka, Redis and PostgreSQL; not part of `make test`. CHAOS_ARGS=--quick for a short run (docs/chaos.md)
chaos: build
	node chaos/run.mjs $(CHAOS_ARGS)

clean:
	rm -rf dist coverage
