# Every command of the project. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# openapi-generator, pinned, in a project-local virtualenv (it needs Java 11+).
OPENAPI_GENERATOR_VERSION := 7.26.0
TOOLS := .tools
GEN_VENV := $(TOOLS)/openapi-generator-$(OPENAPI_GENERATOR_VERSION)
GEN := $(GEN_VENV)/bin/openapi-generator-cli

.PHONY: help generate check-generated

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(GEN):
	python3 -m venv $(GEN_VENV)
	$(GEN_VENV)/bin/pip install --quiet --disable-pip-version-check openapi-generator-cli==$(OPENAPI_GENERATOR_VERSION)

generate: $(GEN) ## Rewrite generated/ from spec/billing.yaml
	@scripts/generate.sh $(GEN) generated
	@echo "generated/ written from spec/billing.yaml"

check-generated: $(GEN) ## Fail when generated/ differs from what spec/ generates
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	scripts/generate.sh $(GEN) "$$tmp" && \
	if diff -r --exclude=target "$$tmp" generated; then echo "generated/ matches spec/"; \
	else echo "generated/ is stale: run 'make generate' and commit the result" >&2; exit 1; fi
