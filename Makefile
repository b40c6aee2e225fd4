# Tollgate — build with `make`, run with `make run`, test with `make test`.
# Dependencies come from Debian packages found with pkg-config (see `make deps`).

CC      ?= cc
PKGS    := libevent libevent_pthreads libevent_openssl openssl libcurl libcjson libsodium sqlite3 libpq hiredis
CFLAGS  ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wshadow \
           -Wstrict-prototypes -Wmissing-prototypes -Isrc $(shell pkg-config --cflags $(PKGS))
ifdef WERROR
override CFLAGS += -Werror
endif
override LDLIBS += $(shell pkg-config --libs $(PKGS)) -lhttp_parser -lpthread -lm

BUILD   := build
SRCS    := $(wildcard src/core/*.c src/http/*.c src/store/*.c src/auth/*.c src/pricing/*.c \
                      src/providers/*.c src/billing/*.c src/catalog/*.c src/limits/*.c src/api/*.c src/cli/*.c \
                      src/tokenizer/*.c src/console/*.c src/gate/*.c src/shared/*.c)
OBJS    := $(SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/web_assets.o $(BUILD)/gen/scripts.o
LIBOBJS := $(filter-out $(BUILD)/src/cli/%,$(OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

DEB_DEPS := build-essential pkg-config libevent-dev libcurl4-openssl-dev libcjson-dev \
            libsodium-dev libsqlite3-dev libcmocka-dev libhttp-parser-dev sqlite3 libpq-dev \
            libhiredis-dev libssl-dev

DB      ?= sqlite:./tollgate.db
LISTEN  ?= 127.0.0.1:8080

.PHONY: all deps test-deps run test unit integration e2e bench check clean asan fuzz test-asan \
        tsan test-tsan test-pg integration-pg

all: $(BUILD)/tollgate $(BUILD)/mock_upstream

$(BUILD)/tollgate: $(OBJS) src/main.c
	$(CC) $(CFLAGS) -o $@ src/main.c $(OBJS) $(LDLIBS)

$(BUILD)/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# tollgate_build_info{version}: the commit it was built from
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
$(BUILD)/src/api/ops.o: override CFLAGS += -DTG_VERSION='"$(VERSION)"'

# The console (web/): built with npm + esbuild into web/dist, then embedded into the binary.
WEB_SRCS := $(wildcard web/src/*.js web/src/*.jsx web/src/*.css web/src/pages/*.jsx web/src/pages/*.css) \
            web/index.html web/build.mjs
web/node_modules: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web/dist/index.html: $(WEB_SRCS) web/node_modules
	cd web && node build.mjs

$(BUILD)/embed: tools/embed.c
	@mkdir -p $(BUILD)
	$(CC) -O1 -o $@ $<

$(BUILD)/gen/web_assets.c: web/dist/index.html $(BUILD)/embed
	@mkdir -p $(dir $@)
	$(BUILD)/embed web/dist > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c src/console/assets.h
	$(CC) $(CFLAGS) -c -o $@ $<

# The shared counters' Lua scripts, embedded as one C string.
$(BUILD)/gen/scripts.c: src/shared/scripts.lua
	@mkdir -p $(dir $@)
	{ echo 'const char tg_shared_scripts_lua[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; echo ';'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/scripts.o: $(BUILD)/gen/scripts.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/mock_upstream: bench/mock_upstream.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS) -lcmocka

# Installs the Debian packages (needs root; skipped when they are all present).
# Node 20 or later is needed by the tests (node --test options, playwright-core); Debian 12
# ships 18, so when the system's node is older, `make deps` fetches node 20 from the npm
# registry into .cache/node, which comes first on every recipe's PATH.
NODE_DIR := $(CURDIR)/.cache/node
export PATH := $(NODE_DIR)/node_modules/.bin:$(PATH)
deps:
	@missing=""; for p in $(DEB_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || { \
	  arch=$$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/'); \
	  echo "node $$(node --version) is older than 20: fetching node 20 ($$arch) into $(NODE_DIR)"; \
	  npm install --prefix "$(NODE_DIR)" --no-audit --no-fund --loglevel=error "node-linux-$$arch@20" && \
	  ln -sf ../node-linux-$$arch/bin/node "$(NODE_DIR)/node_modules/.bin/node"; \
	  hash -r; node --version; }

# What only the tests need: Chromium for the console's end-to-end tests (tests/e2e), a Chinese
# font so that its screenshots in Chinese can be read, and a PostgreSQL server (make test-pg).
test-deps:
	@missing=""; for p in chromium fonts-wqy-microhei postgresql redis-server; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

# On first run: the database, the first admin key and the console's first owner (OWNER_EMAIL,
# with a random password printed once).
OWNER_EMAIL ?= owner@tollgate.local
run: deps all
	@db="$(DB)"; path="$${db#sqlite:}"; \
	if [ "$$db" != "$$path" ] && [ ! -f "$$path" ]; then \
	  pw=$$(head -c 12 /dev/urandom | base64 | tr -d '/+='); \
	  $(BUILD)/tollgate init --db "$(DB)" --email "$(OWNER_EMAIL)" --password "$$pw" && \
	  echo "Console: http://$(LISTEN)/ — log in as $(OWNER_EMAIL) with password $$pw (shown once)"; \
	fi
	$(BUILD)/tollgate serve --listen $(LISTEN) --db $(DB) $(SERVE_ARGS)

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do $$t || fail=1; done; exit $$fail

tests/integration/node_modules: tests/integration/package.json
	cd tests/integration && npm install --no-audit --no-fund --loglevel=error
	@touch $@

IT_ALL = $(notdir $(wildcard tests/integration/*.test.mjs))
integration: all tests/integration/node_modules
	cd tests/integration && node --test --test-concurrency=1 --test-timeout=120000 \
	  $(or $(IT_FILES),$(IT_ALL))

tests/e2e/node_modules: tests/e2e/package.json tests/e2e/package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The console in Chromium (playwright-core), both languages; screenshots go to tests/e2e/output.
# (The tests reuse tests/integration/harness.mjs, hence its node_modules.)
e2e: all test-deps tests/integration/node_modules tests/e2e/node_modules
	cd tests/e2e && node --test --test-concurrency=1 --test-timeout=300000 *.test.mjs

# The several-instances test (scale.test.mjs) starts its own PostgreSQL and Redis whatever the
# backend, so `make test` runs it once, with the PostgreSQL suite, not in the SQLite one too.
test: deps test-deps all
	$(MAKE) unit
	$(MAKE) tokenizer-test
	$(MAKE) integration IT_FILES="$(filter-out scale.test.mjs,$(IT_ALL))"
	$(MAKE) test-pg
	$(MAKE) integration-pg
	$(MAKE) e2e

bench: deps all
	bench/run.sh

# Boundaries from STYLE.md: only store/ sees SQLite, http/ never sees api/, gate/ (admission
# and settlement) never sees the HTTP call (docs/architecture.md), only http/ sees OpenSSL.
check:
	@! grep -rln 'sqlite3\.h' src | grep -v '^src/store/' || (echo "sqlite3.h outside src/store" && false)
	@! grep -rln 'libpq-fe\.h' src | grep -v '^src/store/' || (echo "libpq-fe.h outside src/store" && false)
	@! grep -rln 'hiredis' src | grep -v '^src/shared/' || (echo "hiredis outside src/shared" && false)
	@! grep -rln 'api/' src/http || (echo "src/http includes api/" && false)
	@! grep -rln '#include <openssl/' src | grep -v '^src/http/' || (echo "OpenSSL outside src/http (TLS is the HTTP server's)" && false)
	@! grep -rlnE '#include "(api|http)/' src/gate || (echo "src/gate sees the HTTP call (api/ or http/)" && false)
	@! grep -rln 'tg_call_t' src/gate || (echo "src/gate uses tg_call_t" && false)
	@! grep -rlnE '#include "(api|http)/' src/providers || (echo "src/providers sees the HTTP call (api/ or http/)" && false)
	@! grep -rln 'tg_call_t' src/providers || (echo "src/providers uses tg_call_t" && false)
	@echo "boundaries ok"

# libFuzzer targets (clang), each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 30
FUZZ_SRCS := src/core/sse.c src/core/util.c
fuzz:
	@mkdir -p build/fuzz
	@for t in tests/fuzz/fuzz_*.c; do n=$$(basename $$t .c); \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
	    $$(pkg-config --cflags libevent libsodium) -o build/fuzz/$$n $$t $(FUZZ_SRCS) \
	    $$(pkg-config --libs libevent libsodium) || exit 1; \
	  build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=8192 2>&1 | tail -3 || exit 1; \
	done

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer" all

# The unit and integration tests again, against the AddressSanitizer + UBSan build (the
# integration harness fails a test file whose server printed a sanitizer report).
test-asan: deps asan tests/integration/node_modules
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer" unit
	cd tests/integration && TOLLGATE_BIN=$(CURDIR)/build-asan/tollgate \
	  MOCK_UPSTREAM_BIN=$(CURDIR)/build-asan/mock_upstream \
	  node --test --test-concurrency=1 --test-timeout=120000 *.test.mjs

# The store's tests again, against PostgreSQL: a private server (tools/pg_test_server.sh) and a
# fresh database per test (tests/unit/db_fixture.h), so both backends keep one behaviour.
PG_TESTS := test_store test_ledger test_usage_agg test_catalog test_payments test_secrets
test-pg: test-deps all $(PG_TESTS:%=$(BUILD)/tests/%)
	@out=$$(tools/pg_test_server.sh start) || exit 1; url=$${out% *}; dir=$${out#* }; \
	fail=0; for t in $(PG_TESTS); do TG_TEST_PG_URL=$$url $(BUILD)/tests/$$t || fail=1; done; \
	tools/pg_test_server.sh stop $$dir; exit $$fail

# The integration suite against PostgreSQL (one private server; a database per test).
integration-pg: test-deps all tests/integration/node_modules
	@out=$$(tools/pg_test_server.sh start) || exit 1; url=$${out% *}; dir=$${out#* }; \
	cd tests/integration && TG_IT_PG_URL=$$url node --test --test-concurrency=1 \
	  --test-timeout=600000 $(or $(IT_FILES),*.test.mjs); rc=$$?; \
	cd $(CURDIR) && tools/pg_test_server.sh stop $$dir; exit $$rc

# ThreadSanitizer: `make tsan` builds everything with it (build-tsan/), `make test-tsan` runs the
# multithreaded unit tests against that build; a data race or lock-order inversion fails them.
TSAN_CFLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
TSAN_TESTS  := test_ledger_race test_ratelimit test_money_props
tsan:
	$(MAKE) BUILD=build-tsan CFLAGS="$(TSAN_CFLAGS)" all

test-tsan: deps
	$(MAKE) BUILD=build-tsan CFLAGS="$(TSAN_CFLAGS)" $(TSAN_TESTS:%=build-tsan/tests/%)
	@fail=0; for t in $(TSAN_TESTS); do \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/$$t || fail=1; \
	done; exit $$fail

# The tokenizer (docs/internals/tokenizer.md). tokenizer-test: a seeded corpus of ~12,000 strings
# through both encodings, compared id by id with js-tiktoken under node (the corpus and the
# reference ids are regenerated when the generator or the pinned package changes).
# bench-tokenizer: tokens/s of src/tokenizer against js-tiktoken on that corpus.
.PHONY: tokenizer-test bench-tokenizer
tests/tokenizer/node_modules: tests/tokenizer/package.json
	cd tests/tokenizer && npm install --no-audit --no-fund --loglevel=error
	@touch $@

$(BUILD)/tokenizer/corpus.bin: tools/tokenizer/gen_corpus.mjs tests/tokenizer/node_modules
	node tools/tokenizer/gen_corpus.mjs --out $(BUILD)/tokenizer

$(BUILD)/tokenizer/compare: tests/tokenizer/compare.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS)

$(BUILD)/tokenizer/bench: bench/tokenizer/bench.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS)

tokenizer-test: $(BUILD)/tokenizer/compare $(BUILD)/tokenizer/corpus.bin
	node tools/tokenizer/gen_unicode.mjs --check
	node tools/tokenizer/convert_ranks.mjs --check
	$(BUILD)/tokenizer/compare $(BUILD)/tokenizer data/tokenizer

bench-tokenizer: $(BUILD)/tokenizer/bench $(BUILD)/tokenizer/corpus.bin
	bench/tokenizer/run.sh $(BUILD)/tokenizer

clean:
	rm -rf $(BUILD) build-asan build-tsan
