# Every command of the project; `make help` lists them. Tools are pinned and installed
# into .tools/ (ignored by git) on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := .tools
# openapi-generator, from PyPI, in a project-local virtualenv (it needs Java 11+).
OPENAPI_GENERATOR_VERSION := 7.26.0
GEN := $(TOOLS)/openapi-generator-$(OPENAPI_GENERATOR_VERSION)/bin/openapi-generator-cli
# schemathesis, from PyPI, for `make contract`.
SCHEMATHESIS_VERSION := 4.32.5
HYPOTHESIS_VERSION := 6.170.17
SCHEMATHESIS := $(TOOLS)/schemathesis-$(SCHEMATHESIS_VERSION)/bin/schemathesis
# puppeteer-core, from the npm registry, for `make docs-check` (it drives Debian's chromium).
PUPPETEER_VERSION := 25.16.0
PUPPETEER := $(TOOLS)/puppeteer-core-$(PUPPETEER_VERSION)/node_modules/puppeteer-core
# oha, the open-loop load generator of `make bench` (from crates.io).
OHA_VERSION := 1.16.0
OHA := $(TOOLS)/oha-$(OHA_VERSION)/bin/oha
# diesel's command line, for printing the schema.
DIESEL_CLI_VERSION := 2.3.14
DIESEL := $(TOOLS)/diesel_cli-$(DIESEL_CLI_VERSION)/bin/diesel
SCHEMA := billing-impl/src/db/schema.rs

# The database: DATABASE_URL when set, else the checkout's private cluster (scripts/pg.sh).
# Targets that need it have `database` as their first prerequisite, so that they stop
# before building anything when it cannot be had, with the failing step's own message;
# their commands get it from scripts/with-database.sh, which never runs them without it.
WITH_DB := scripts/with-database.sh
# What `make test` runs; narrow it with, say, TEST_ARGS="-p billing-impl --test profile".
TEST_ARGS := --workspace --all-targets

.PHONY: help database run test check-second-checkout contract docs-check bench bench-test generate check-generated check-contract-change schema check-schema check-unit check-docs lint example ci pg-stop

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

database: ## Start the checkout's PostgreSQL if needed (or check DATABASE_URL's) and print its URL
	@scripts/database-url.sh

run: database ## Build, start PostgreSQL if needed, load the demo data, serve on 127.0.0.1:8080
	cargo build --release -p billing-impl --bin billing
	scripts/run.sh

test: database ## Start PostgreSQL if needed and run every test (TEST_ARGS narrows)
	$(WITH_DB) cargo test $(TEST_ARGS)

check-second-checkout: ## A second clone runs `make test` beside this one's cluster or another program
	scripts/check-second-checkout.sh

contract: database $(SCHEMATHESIS) ## schemathesis against the live server with every check (CONTRACT_EXAMPLES=300)
	scripts/contract.sh $(SCHEMATHESIS)

docs-check: database $(PUPPETEER) ## The docs page in headless Chromium: every operation, the Authorize dialog, a screenshot in target/docs/
	scripts/docs-check.sh $(TOOLS)/puppeteer-core-$(PUPPETEER_VERSION)/node_modules

# The benchmark makes clusters of its own: PostgreSQL's programs are looked for before the build.
bench: $(OHA) ## Benchmark against PostgreSQL's own limit into target/bench/ (BENCH_ARGS="--smoke", "--no-targets", "--help")
	@scripts/pg.sh check
	cargo build --release -p billing-impl -p billing-bench --bin billing --bin billing-bench
	cd bench && BENCH_OHA=$(abspath $(OHA)) python3 -m benchmark $(BENCH_ARGS)

bench-test: $(OHA) ## The benchmark's own tests: its load generators' figures can fail
	cd bench && BENCH_OHA=$(abspath $(OHA)) python3 -m unittest discover -s tests -t .

generate: $(GEN) ## Rewrite generated/ from spec/billing.yaml
	@scripts/generate.sh $(GEN) generated
	@echo "generated/ written from spec/billing.yaml"

check-generated: $(GEN) ## Fail when generated/ differs from what spec/ generates
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	scripts/generate.sh $(GEN) "$$tmp" && \
	if diff -r "$$tmp" generated; then echo "generated/ matches spec/"; \
	else echo "generated/ is stale: run 'make generate' and commit the result" >&2; exit 1; fi

check-contract-change: $(GEN) ## Fail unless a new parameter and body property break the build where they must be handled
	@scripts/check-contract-change.sh $(GEN)

schema: database $(DIESEL) ## Rewrite the diesel schema from migrations/ (in a scratch database)
	@url=$$(scripts/database-url.sh) && scripts/print-schema.sh $(DIESEL) "$$url" > $(SCHEMA)
	@echo "$(SCHEMA) written from migrations/"

check-schema: database $(DIESEL) ## Fail when the diesel schema differs from what migrations/ make
	@url=$$(scripts/database-url.sh) || exit 1; \
	if scripts/print-schema.sh $(DIESEL) "$$url" | diff - $(SCHEMA); then echo "$(SCHEMA) matches migrations/"; \
	else echo "$(SCHEMA) is stale: run 'make schema' and commit the result" >&2; exit 1; fi

check-docs: ## The README within 150 lines and linking every doc; no paragraph over 120 words
	python3 scripts/check-docs.py

check-unit: ## systemd-analyze verify and security on deploy/billing.service
	cargo build -p billing-impl --bin billing
	scripts/check-unit.sh target/debug/billing

lint: ## rustfmt and clippy, warnings as errors, on the hand-written crates
	cargo fmt -p billing-impl -p contract-runtime -p billing-test-support -p billing-bench --check
	cargo clippy -p billing-impl -p contract-runtime -p billing-test-support -p billing-bench --all-targets -- -D warnings

example: database ## Run the example client against a real server with the demo data
	scripts/example.sh

ci: check-generated check-contract-change check-schema lint check-docs check-unit test check-second-checkout example contract docs-check bench-test ## What CI runs

pg-stop: ## Stop the checkout's private PostgreSQL cluster, naming its folder and port
	@scripts/pg.sh stop

$(GEN):
	python3 -m venv $(TOOLS)/openapi-generator-$(OPENAPI_GENERATOR_VERSION)
	$(TOOLS)/openapi-generator-$(OPENAPI_GENERATOR_VERSION)/bin/pip install --quiet \
		--disable-pip-version-check openapi-generator-cli==$(OPENAPI_GENERATOR_VERSION)

$(SCHEMATHESIS):
	python3 -m venv $(TOOLS)/schemathesis-$(SCHEMATHESIS_VERSION)
	$(TOOLS)/schemathesis-$(SCHEMATHESIS_VERSION)/bin/pip install --quiet \
		--disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION) hypothesis==$(HYPOTHESIS_VERSION)

$(OHA):
	cargo install --quiet --locked oha --version $(OHA_VERSION) --root $(TOOLS)/oha-$(OHA_VERSION)

$(DIESEL):
	cargo install --quiet --locked diesel_cli --version $(DIESEL_CLI_VERSION) \
		--no-default-features --features postgres --root $(TOOLS)/diesel_cli-$(DIESEL_CLI_VERSION)

$(PUPPETEER):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/puppeteer-core-$(PUPPETEER_VERSION) \
		puppeteer-core@$(PUPPETEER_VERSION)
