# faultline — one non-recursive build.
#
# Variants live in their own directories under build/: debug (default),
# asan, coverage, release (benchmarks) and fuzz. A variant is chosen with
# BUILD=...; the umbrella targets (asan, coverage, bench, fuzz) re-enter this
# same Makefile with the variant set, they never recurse into subdirectories.
#
# Sources are discovered, so adding a module is adding files:
#   client/*.c            -> libfaultline-client.a
#   simulator/*.c         -> libfaultline-sim.a (main.c -> the faultline CLI)
#   tests/test_*.c        -> one cmocka binary per module
#   tests/bench/bench_*.c -> one benchmark binary per suite part
#   tests/fuzz/fuzz_*.c   -> one libFuzzer target each (clang)

BUILD   ?= debug
B       ?= build/$(BUILD)
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

PKGS    := libevent sqlite3 jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla -Wno-unused-parameter
ifneq ($(CI),)
WARN += -Werror
endif

CC_debug    := cc
CC_asan     := cc
CC_coverage := cc
CC_release  := cc
CC_fuzz     := clang
OPT_debug    := -O1 -g
OPT_asan     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT_coverage := -O0 -g --coverage
OPT_release  := -O2 -g -DNDEBUG
OPT_fuzz     := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
CC     := $(CC_$(BUILD))
OPT    := $(OPT_$(BUILD))
LDOPT_asan     := -fsanitize=address,undefined
LDOPT_coverage := --coverage
LDOPT_fuzz     := -fsanitize=fuzzer,address,undefined
LDOPT  := $(LDOPT_$(BUILD))

CPPFLAGS += -Iclient/include -Iclient -Isimulator -D_GNU_SOURCE
CFLAGS   := -std=c11 $(OPT) $(WARN) -MMD -MP $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) -ldl -lm

CLIENT_SRC ?= $(sort $(wildcard client/*.c))
SIM_SRC    ?= $(sort $(filter-out simulator/main.c,$(wildcard simulator/*.c)))
MAIN_SRC   := $(wildcard simulator/main.c)
TEST_SRC   := $(sort $(wildcard tests/test_*.c))
TESTLIB_SRC:= $(sort $(wildcard tests/lib/*.c))
BENCH_SRC  := $(sort $(wildcard tests/bench/bench_*.c))
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
EXAMPLE_SRC:= $(sort $(wildcard client/examples/*.c))

CLIENT_OBJ := $(CLIENT_SRC:%.c=$(B)/%.o)
SIM_OBJ    := $(SIM_SRC:%.c=$(B)/%.o)
TESTLIB_OBJ:= $(TESTLIB_SRC:%.c=$(B)/%.o)
CLIENT_LIB := $(B)/libfaultline-client.a
SIM_LIB    := $(B)/libfaultline-sim.a
CLI        := $(if $(MAIN_SRC),$(B)/faultline)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(B)/tests/%)
BENCH_BIN  := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
EXAMPLE_BIN:= $(EXAMPLE_SRC:client/examples/%.c=$(B)/examples/%)
LIBS       := $(SIM_LIB) $(CLIENT_LIB)

.PHONY: all run test unit-tests script-tests scenario-tests coverage asan fuzz fuzz-build \
        bench install clean help format format-check deps cli tests
.DEFAULT_GOAL := all
.SECONDARY:

all: deps $(CLIENT_LIB) $(SIM_LIB) $(CLI) $(TEST_BIN) $(EXAMPLE_BIN) ## build the libraries, the CLI, the tests and the examples

deps: ## install missing Debian packages (ci/deps.sh)
	@bash ci/deps.sh

cli: $(CLI)
tests: $(TEST_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(CLIENT_LIB): $(CLIENT_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(SIM_LIB): $(SIM_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

# The revision recorded in reports and the run database.
REVISION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(B)/simulator/main.o: CPPFLAGS += -DFAULTLINE_REVISION='"$(REVISION)"'
$(B)/simulator/main.o: $(wildcard .git/index)

$(B)/faultline: $(B)/simulator/main.o $(LIBS)
	$(CC) $(OPT) $(LDOPT) -o $@ $^ $(LDLIBS)

# Example programs: client library only (they are what a user would write).
$(B)/examples/%: client/examples/%.c $(CLIENT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDOPT) -o $@ $< $(CLIENT_LIB) $(LDLIBS)

$(B)/tests/%: $(B)/tests/%.o $(TESTLIB_OBJ) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDOPT) -o $@ $< $(TESTLIB_OBJ) $(LIBS) $(CMOCKA_LIBS) $(LDLIBS)

$(B)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(CMOCKA_CFLAGS) -c $< -o $@

$(B)/bench/%: tests/bench/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $@ $< $(LIBS) $(LDLIBS)
$(B)/bench/bench_paho: LDLIBS += -l:libpaho-mqtt3c.a -lpthread

$(B)/fuzz/%: tests/fuzz/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDOPT) -o $@ $< $(LIBS) $(LDLIBS)

# Test plugins (tests/plugins/*.c): shared objects built with the client
# sources compiled -fPIC into them, so a plugin is self-contained like a user's.
PLUGIN_SRC := $(sort $(wildcard tests/plugins/*.c))
PLUGIN_SO  := $(PLUGIN_SRC:tests/plugins/%.c=$(B)/plugins/%.so)
$(B)/plugins/%.so: tests/plugins/%.c $(CLIENT_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(filter-out --coverage,$(OPT)) $(WARN) -fPIC -shared -fvisibility=hidden $(filter-out --coverage,$(LDOPT)) -o $@ $^ $(PKG_LIBS) -ldl -lm
$(B)/tests/test_store_mem: | $(PLUGIN_SO)

unit-tests: $(TEST_BIN) $(PLUGIN_SO) $(EXAMPLE_BIN) ## run every cmocka binary of this variant (JUnit XML under reports/junit/)
	@bash ci/run-tests.sh $(B) $(TEST_BIN)

script-tests: $(CLI) $(EXAMPLE_BIN) $(TEST_BIN) ## schema/loader agreement and shell tests (tests/test_*.sh BUILD_DIR)
	@python3 tests/check_schema.py . && echo "schema-check: scenarios/schema.json agrees with the loader corpora"
	@for t in $(sort $(wildcard tests/test_*.sh)); do \
	  bash $$t $(B); rc=$$?; \
	  if [ $$rc -eq 77 ]; then echo "SKIP  $$t"; elif [ $$rc -ne 0 ]; then echo "FAIL  $$t (exit $$rc)"; exit 1; fi; \
	done

scenario-tests: $(CLI) ## run the scenario library as the regression suite
	@bash ci/run-scenarios.sh $(B)

test: deps ## install deps, build, run every unit test and the scenario regression suite
	@$(MAKE) --no-print-directory BUILD=$(BUILD) unit-tests script-tests scenario-tests

run: deps ## install deps, build, run the scenario library, print the summary
	@$(MAKE) --no-print-directory BUILD=$(BUILD) $(CLI) $(TEST_BIN)
	@bash ci/run-scenarios.sh $(B) --summary

asan: deps ## ASan+UBSan build and full test run
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) --no-print-directory BUILD=asan unit-tests script-tests scenario-tests

coverage: deps ## coverage build, tests, gate: >= 85% lines of client/ + simulator/
	@rm -rf build/coverage/client build/coverage/simulator
	@$(MAKE) --no-print-directory BUILD=coverage unit-tests script-tests scenario-tests
	@bash ci/coverage.sh build/coverage 85

fuzz-build: ## build the libFuzzer targets with clang
	@$(MAKE) --no-print-directory BUILD=fuzz $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/fuzz/%)

fuzz: deps fuzz-build ## run each fuzz target for FUZZ_SECONDS (default 30)
	@bash ci/fuzz.sh build/fuzz/fuzz $${FUZZ_SECONDS:-30}

bench: deps ## release build, run benchmarks, write reports/bench/*.json, print a table
	@$(MAKE) --no-print-directory BUILD=release $(BENCH_SRC:tests/bench/%.c=build/release/bench/%)
	@bash ci/bench.sh build/release/bench

install: $(CLIENT_LIB) $(CLI) ## install the client library, headers, pkg-config file and CLI
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/faultline \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(CLIENT_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 client/include/faultline/*.h $(DESTDIR)$(PREFIX)/include/faultline/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' client/faultline-client.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/faultline-client.pc
	$(if $(CLI),install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/)

FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format: ## reformat every tracked C file
	clang-format -i $(FORMAT_SRC)

format-check: ## fail if any tracked C file is not clang-formatted
	@clang-format --dry-run -Werror $(FORMAT_SRC) && echo "format-check: ok ($(words $(FORMAT_SRC)) files)"

clean: ## remove build/ and generated reports
	rm -rf build reports/junit reports/bench reports/runs

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/:.*## /\t/' | expand -t 16

-include $(shell find $(B) -name '*.d' 2>/dev/null)
