# Hearth's entry points. Each target runs the bootstrap first (idempotent, quiet when done).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
GGML_NATIVE ?= ON
MODELS_DIR ?= $(if $(wildcard ../shared/models),../shared/models,)
LISTEN ?= 127.0.0.1:8080
HEARTH_WERROR ?= ON
# `make privacy-eval`: the corpus seed and how many false positives/negatives to show per type.
PRIVACY_SEED ?= 5
SHOW_ERRORS ?= 5
# Relative paths in ccache keys let a fresh clone reuse the cache of another checkout.
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: all bootstrap configure build fixtures test serve bench privacy-eval format clean

all: build

bootstrap:
	@scripts/bootstrap

configure: bootstrap
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DGGML_NATIVE=$(GGML_NATIVE) -DHEARTH_WERROR=$(HEARTH_WERROR) >/dev/null; \
	fi

build: configure
	@ninja -C $(BUILD_DIR) -j$(JOBS) hearth

fixtures: configure
	@ninja -C $(BUILD_DIR) -j$(JOBS) fixtures

# The whole suite: unit tests, integration tests against llama.cpp's own tools, the openai
# client test, and the same unit and integration tests again under ASan+UBSan.
test: configure
	@ninja -C $(BUILD_DIR) -j$(JOBS) test-deps
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j1

# The gateway on $(LISTEN). With CONFIG=FILE it follows that file; otherwise every GGUF in
# $(MODELS_DIR) is served (loaded on first use), or the generated fixture models when there is none.
serve: build
	@models_dir="$(MODELS_DIR)"; \
	if [ -z "$(CONFIG)" ] && [ -z "$$(ls $$models_dir/*.gguf 2>/dev/null)" ]; then \
	  ninja -C $(BUILD_DIR) fixtures >/dev/null && models_dir=$(BUILD_DIR)/fixtures; fi; \
	echo "hearth: gateway on http://$(LISTEN) ($(if $(CONFIG),config $(CONFIG),models from $$models_dir))"; \
	exec $(BUILD_DIR)/bin/hearth serve --listen $(LISTEN) $(if $(CONFIG),--config $(CONFIG),--models-dir "$$models_dir")

bench: configure
	@bench/run

# Precision and recall of the privacy scanner per entity type on the generated, labelled corpus
# (docs/PRIVACY.md); exits non-zero when a type misses its target.
privacy-eval: configure
	@ninja -C $(BUILD_DIR) -j$(JOBS) hearth
	@mkdir -p $(BUILD_DIR)/privacy
	@python3 tools/privacy_corpus/generate.py --seed $(PRIVACY_SEED) --output $(BUILD_DIR)/privacy/corpus.jsonl
	@$(BUILD_DIR)/bin/hearth privacy eval --corpus $(BUILD_DIR)/privacy/corpus.jsonl --show-errors $(SHOW_ERRORS)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
