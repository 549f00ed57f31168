# Hearth's entry points. Each target runs the bootstrap first (idempotent, quiet when done).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
GGML_NATIVE ?= ON
MODELS_DIR ?= $(if $(wildcard ../shared/models),../shared/models,)
LISTEN ?= 127.0.0.1:8080
HEARTH_WERROR ?= ON
# Relative paths in ccache keys let a fresh clone reuse the cache of another checkout.
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: all bootstrap configure build fixtures test serve bench format clean

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

serve: build
	@model="$(MODEL)"; \
	if [ -z "$$model" ] && [ -n "$(MODELS_DIR)" ]; then model=$$(ls $(MODELS_DIR)/*.gguf 2>/dev/null | head -n1); fi; \
	if [ -z "$$model" ]; then ninja -C $(BUILD_DIR) fixtures >/dev/null && model=$(BUILD_DIR)/fixtures/tiny-qwen2-chat.gguf; fi; \
	echo "hearth: serving $$model on http://$(LISTEN)"; \
	exec $(BUILD_DIR)/bin/hearth worker --model "$$model" --listen $(LISTEN)

bench: configure
	@bench/run

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
