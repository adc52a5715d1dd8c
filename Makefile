# tk: first-come event ticketing gateway.
#
#   make run     install what is missing, build, start everything (foreground)
#   make test    install what is missing, build with sanitizers, run every test
#   make bench   the benchmark (not part of make test)
#
# Two build modes share one source list: release (build/release, -O2) and
# san (build/san, AddressSanitizer + UndefinedBehaviorSanitizer, used by the
# tests). Project flags live in TK_CFLAGS; CFLAGS and LDFLAGS are yours.

MODE ?= release
BUILD := build/$(MODE)
OPTIMIZATION ?= -O2
CC ?= gcc

# Evaluated lazily: on a fresh machine pkg-config only works after `deps`.
PKGS := libh2o-evloop hiredis libmariadb jansson openssl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS)) -lpthread -lz
TEST_LIBS = $(shell pkg-config --libs cmocka)
IT_LIBS = $(shell pkg-config --libs libcurl)

ifeq ($(MODE),san)
OPTIMIZATION := -O1
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
# `make fuzz` builds in build/fuzz with clang: every object instrumented for
# libFuzzer (coverage) and the sanitizers; only the fuzz binary links libFuzzer.
ifeq ($(MODE),fuzz)
CC := clang
OPTIMIZATION := -O1
SAN_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

# libh2o-evloop.pc does not say -DH2O_USE_LIBUV=0; without it h2o.h takes
# the libuv struct layout and the program corrupts memory at run time.
TK_CFLAGS = -std=c11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -g $(OPTIMIZATION) $(SAN_FLAGS) \
	-Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
	-Icommon $(addprefix -I,$(GW_DIRS)) -Iworker -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
TK_LDFLAGS = $(SAN_FLAGS)

COMMON_SRC := $(wildcard common/*.c)
# The gateway is grouped by concern (gateway/http, claims, admin, failover,
# ops); headers are included by name, so every folder is on the include path.
GW_DIRS := gateway $(patsubst %/,%,$(sort $(wildcard gateway/*/)))
GW_SRC := $(filter-out gateway/gw_main.c,$(wildcard $(addsuffix /*.c,$(GW_DIRS))))
WK_SRC := $(filter-out worker/wk_main.c,$(wildcard worker/*.c))
LUA_SRC := $(sort $(wildcard lua/*.lua))
LUA_PARTS := $(sort $(wildcard lua/part/*.lua))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
IT_SRC := $(wildcard tests/integration/it_*.c)
IT_LIB_SRC := $(wildcard tests/integration/lib/*.c)
IT_CHAOS_SRC := $(wildcard tests/integration/chaos/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
COMMON_OBJ = $(call obj,$(COMMON_SRC)) $(BUILD)/obj/gen/tk_lua.o
GW_OBJ = $(call obj,$(GW_SRC))
WK_OBJ = $(call obj,$(WK_SRC))
IT_LIB_OBJ = $(call obj,$(IT_LIB_SRC))

BINS := $(BUILD)/bin/tk-gateway $(BUILD)/bin/tk-worker $(BUILD)/bin/tk-rebuild $(BUILD)/bin/tk-token $(BUILD)/bin/tk-import
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
IT_BINS := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(IT_SRC))

.PHONY: all build deps run test unit integration test-build bench fuzz fuzz-build clean reset distclean
.DEFAULT_GOAL := all

all: build
build: $(BINS)

deps:
	@scripts/deps.sh

# A shell ignores SIGINT in its background jobs, and a trap cannot undo
# that; env restores it so run.sh stops on SIGINT even when make was started
# in the background by a script. (make itself forwards SIGTERM to run.sh.)
run: deps
	@$(MAKE) --no-print-directory MODE=release build
	@exec env --default-signal=INT scripts/run.sh

# The tests also drive JMeter and Chromium, so they need those groups too.
test:
	@scripts/deps.sh core jmeter browser
	@$(MAKE) --no-print-directory MODE=san test-build
	@scripts/test.sh build/san

test-build: $(BINS) $(UNIT_BINS) $(IT_BINS)

unit: deps
	@$(MAKE) --no-print-directory MODE=san test-build
	@scripts/test.sh build/san unit

integration: deps
	@$(MAKE) --no-print-directory MODE=san test-build
	@scripts/test.sh build/san integration

e2e:
	@scripts/deps.sh core jmeter browser
	@$(MAKE) --no-print-directory MODE=san test-build
	@scripts/test.sh build/san e2e

# The chaos scenarios (tests/integration/it_chaos.c) at a larger scale than
# inside `make test`: CHAOS_SCALE (default 10) x stock 300 / 3,000 users.
.PHONY: chaos
chaos: deps
	@$(MAKE) --no-print-directory MODE=san build/san/bin/tk-gateway build/san/bin/tk-worker build/san/tests/it_chaos
	@scripts/chaos.sh build/san

bench: deps
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory MODE=release build build/release/bench/tk-h2bench build/release/bench/tk-watchbench
	@scripts/bench.sh

# The benchmark's HTTP/2 load driver (random user per request; see bench/README.md).
build/release/bench/tk-h2bench: bench/tk_h2bench.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror $(CFLAGS) -o $@ $< $(LDFLAGS) $(shell pkg-config --libs libnghttp2 openssl)

# The live phase's long-poll driver: thousands of held watches over HTTP/2 or
# HTTP/1.1, the fan-out after a claim, the waiting room's joins and admissions.
build/release/bench/tk-watchbench: bench/tk_watchbench.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror $(CFLAGS) -o $@ $< $(LDFLAGS) $(shell pkg-config --libs libnghttp2 openssl)

# libFuzzer over request parsing and validation and the user token verifier (tests/fuzz/fuzz_request.c),
# for FUZZ_SECONDS (default 60). Not part of `make test`. New inputs go to
# build/fuzz/corpus (the seeds in tests/fuzz/corpus stay as they are); a
# crash leaves its input in build/fuzz/ and fails the target.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh core fuzz
	@$(MAKE) --no-print-directory MODE=fuzz fuzz-build
	@mkdir -p build/fuzz/corpus
	build/fuzz/tests/fuzz_request -max_total_time=$(FUZZ_SECONDS) -max_len=16385 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=build/fuzz/ -print_final_stats=1 build/fuzz/corpus tests/fuzz/corpus

fuzz-build: $(BUILD)/tests/fuzz_request

$(BUILD)/tests/fuzz_request: $(BUILD)/obj/tests/fuzz/fuzz_request.o $(GW_OBJ) $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(TK_LDFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bin/tk-gateway: $(call obj,gateway/gw_main.c) $(GW_OBJ) $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(TK_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bin/tk-worker: $(call obj,worker/wk_main.c) $(WK_OBJ) $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(TK_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Rebuild of events' Redis state from MariaDB on demand (docs/REBUILD.md).
$(BUILD)/bin/tk-rebuild: $(call obj,tools/tk_rebuild_cli.c) $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(TK_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# User tokens for the demo, curl and load plans (tools/tk_token_cli.c, common/tk_jwt.h).
$(BUILD)/bin/tk-token: $(call obj,tools/tk_token_cli.c) $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(TK_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Leaderboard CSV import and export (tools/tk_import_*.c; docs/DESIGN.md "Leaderboards: import and export").
IMPORT_SRC := $(wildcard tools/tk_import_*.c)
$(BUILD)/bin/tk-import: $(call obj,$(IMPORT_SRC)) $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(TK_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(GW_OBJ) $(WK_OBJ) $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(TK_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(BUILD)/tests/it_%: $(BUILD)/obj/tests/integration/it_%.o $(IT_LIB_OBJ) $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(TK_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS) $(IT_LIBS)

# it_chaos's scenarios: one file per group in tests/integration/chaos/.
$(BUILD)/tests/it_chaos: $(call obj,$(IT_CHAOS_SRC))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(TK_CFLAGS) $(CFLAGS) -c -o $@ $<

# The Lua scripts are compiled into the binaries, so a running process never
# depends on a path to them; they are loaded into Redis by SHA at start.
$(BUILD)/gen/tk_lua.c: $(LUA_SRC) $(LUA_PARTS) scripts/embed-lua.sh
	@mkdir -p $(@D)
	scripts/embed-lua.sh $(LUA_SRC) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/tk_lua.o: $(BUILD)/gen/tk_lua.c
	@mkdir -p $(@D)
	$(CC) $(TK_CFLAGS) $(CFLAGS) -c -o $@ $<

clean:
	rm -rf build

# Wipes the local Redis and MariaDB data, certificate and secrets under var/.
reset:
	@scripts/services.sh stop var 2>/dev/null || true
	rm -rf var

distclean: clean reset

-include $(shell find build -name '*.d' 2>/dev/null)
