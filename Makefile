# memtap: one non-recursive Makefile. Outputs go to build/.
#   make            build build/libmemtap.so and build/memtap (installs missing packages)
#   make demo       run the leaky example under memtap: its leak report and flamegraph page
#   make test       unit tests (Criterion), end-to-end tests and browser tests
#   make browser    the HTML flamegraph page in Chromium (tests/browser/)
#   make asan       reader and unit tests under AddressSanitizer + UBSan
#   make bench      overhead benchmark against the untracked program and heaptrack
#   make bench-huge a 1 G-event synthetic capture through the reader
#   make fuzz       libFuzzer on the capture decoder (FUZZ_SECONDS=60)
#   make install PREFIX=/usr/local
#   make help

PREFIX ?= /usr/local
CC ?= cc
BUILD := build
# absolute, so that the dependency files (-MMD) name the same targets whoever runs make
# (the e2e tests install with BUILD set to an absolute path)
override BUILD := $(abspath $(BUILD))
VERSION := 0.1.0

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
ifeq ($(CI),true)
WARN += -Werror
endif
CFLAGS ?= -O2 -g
# Link-time optimisation: in the reader, decoder -> merge -> replay inline across files
# (-18 % instructions reading a capture); in the library, the hot path's small functions
# across files (-7 % instructions a tracked malloc+free pair). With the whole library in
# view GCC trusts glibc's leaf declarations (dlsym, strdup...) not to call back into it: a
# state such a call may change through our hooks must be volatile or atomic, as the
# reentrancy guard is (core/lifecycle.h); the hooks change nothing else while it is set.
LTO ?= -flto=auto
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -MMD -MP
PRELOAD_CFLAGS := -fPIC -fvisibility=hidden -fno-builtin-malloc -fno-builtin-free \
	-fno-builtin-calloc -fno-builtin-realloc -ftls-model=initial-exec
PRELOAD_LIBS := -lunwind -lgcc_s -llz4 -ldl -lpthread
READER_LIBS := -llz4 -ljansson -ldw -lelf -lstdc++ -lm -lpthread

PRELOAD_SRC := $(wildcard preload/*/*.c)
READER_SRC := $(wildcard reader/*/*.c)
READER_LIB_SRC := $(filter-out reader/cli/main.c,$(READER_SRC))
UNIT_SRC := $(wildcard tests/unit/*/test_*.c tests/unit/*/*/test_*.c)

PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(BUILD)/%.o)
READER_OBJ := $(READER_SRC:%.c=$(BUILD)/%.o)
READER_LIB_OBJ := $(READER_LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# the library's modules the unit tests link (never the preloaded library itself): all but
# its constructor (core/init.c would start tracking the test runner) and the interposed
# functions (hooks/hooks.c and hooks/idle.c would replace the runner's malloc, read...)
UNIT_PRELOAD_OBJ := $(filter-out $(addprefix $(BUILD)/preload/,core/init.o hooks/hooks.o \
	hooks/idle.o),$(PRELOAD_OBJ))

DEPS_STAMP := $(BUILD)/.deps-ok

# The HTML flamegraph page (reader/html/): d3 and d3-flame-graph from npm, pinned by
# package-lock.json and installed by `npm ci` into node_modules/ (again only when the lock
# changes), inlined by build-page.mjs into one template that template.S embeds into memtap.
NPM_STAMP := node_modules/.memtap-npm-ci
# the system's certificate authorities (a proxy's local CA included), not only npm's own
NPM_CAFILE := $(if $(wildcard /etc/ssl/certs/ca-certificates.crt),--cafile=/etc/ssl/certs/ca-certificates.crt)
PAGE_HTML := $(BUILD)/reader/html/page.html
PAGE_OBJ := $(BUILD)/reader/html/template.o
READER_OBJ += $(PAGE_OBJ)
READER_LIB_OBJ += $(PAGE_OBJ)
BROWSER_STAMP := $(BUILD)/.browser-deps-ok
BROWSER_TESTS := $(wildcard tests/browser/*.test.mjs)

.PHONY: all deps demo test unit e2e e2e-progs browser asan asan-unit bench bench-huge fuzz install clean \
	format help
all: $(BUILD)/libmemtap.so $(BUILD)/memtap

help:
	@sed -n '2,11p' Makefile | sed 's/^# //'

# Missing libraries are installed with apt-get when we are root, otherwise we stop and say
# the exact command.
deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/install-deps
	@tools/install-deps
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/preload/%.o: preload/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Ipreload $(PRELOAD_CFLAGS) $(CFLAGS) $(LTO) $(FRAME_CFLAGS) -c $< -o $@
# the hooks keep frame pointers: they note where the program called them (fastunwind.h)
$(BUILD)/preload/hooks/hooks.o $(BUILD)/preload/python/pymem.o: FRAME_CFLAGS := -fno-omit-frame-pointer \
	-mno-omit-leaf-frame-pointer

# The encoder as the unit tests build it, with its test seam (record.h: the layouts of older
# versions, which the library's own build of record.c does not have), in place of the
# library's output/record.o; the encoder's layout is the same in both builds.
UNIT_PRELOAD_OBJ := $(filter-out $(BUILD)/preload/output/record.o,$(UNIT_PRELOAD_OBJ)) \
	$(BUILD)/seams/output/record.o
$(BUILD)/seams/%.o: preload/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -DMEMTAP_TEST_SEAMS -Ipreload $(PRELOAD_CFLAGS) $(CFLAGS) $(LTO) -c $< -o $@

$(BUILD)/reader/%.o: reader/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Ireader -DMEMTAP_VERSION='"$(VERSION)"' $(CFLAGS) $(LTO) -c $< -o $@

$(NPM_STAMP): package.json package-lock.json | $(DEPS_STAMP)
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error $(NPM_CAFILE)
	@touch $@

$(PAGE_HTML): reader/html/build-page.mjs reader/html/page.html reader/html/page.js \
		reader/html/page.css $(NPM_STAMP)
	@mkdir -p $(dir $@)
	node reader/html/build-page.mjs $@

$(PAGE_OBJ): reader/html/template.S $(PAGE_HTML)
	@mkdir -p $(dir $@)
	$(CC) -c -DMEMTAP_PAGE_FILE='"$(PAGE_HTML)"' $< -o $@

$(BUILD)/libmemtap.so: $(PRELOAD_OBJ)
	$(CC) $(CFLAGS) $(LTO) -shared -Wl,-z,defs -Wl,-soname,libmemtap.so -o $@ $^ $(PRELOAD_LIBS)

$(BUILD)/memtap: $(READER_OBJ)
	$(CC) $(CFLAGS) $(LTO) $(LDFLAGS) -o $@ $^ $(READER_LIBS)

# Unit tests link module objects directly (never the preloaded library). The golden
# captures (tests/golden) are read when the tests run.
$(BUILD)/tests/%: tests/unit/%.c $(READER_LIB_OBJ) $(UNIT_PRELOAD_OBJ) \
		$(wildcard tests/unit/support/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Ireader -Ipreload -Itests/unit -DMEMTAP_GOLDEN_DIR='"$(CURDIR)/tests/golden"' \
		$(CFLAGS) $(LTO) -o $@ $< $(READER_LIB_OBJ) \
		$(UNIT_PRELOAD_OBJ) $(READER_LIBS) -lcriterion -lunwind -lgcc_s -lpthread

demo: all
	@$(MAKE) --no-print-directory -s -C examples BUILD=$(BUILD)
	@rm -f $(BUILD)/demo.memtap
	$(BUILD)/memtap run --leak-scan -o $(BUILD)/demo.memtap -- $(BUILD)/examples/leaky 3
	$(BUILD)/memtap summary $(BUILD)/demo.memtap
	$(BUILD)/memtap leaks $(BUILD)/demo.memtap
	$(BUILD)/memtap flamegraph --force -o $(BUILD)/demo-flamegraph.html $(BUILD)/demo.memtap

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do echo "== $$t"; $$t --jobs 2 || exit 1; done

# pytest under Debian's own interpreter, which has python3-pytest (`python3` on PATH may be a
# pyenv shim without it); -B and no cache provider: nothing is written into the source tree.
# Each test's files are in its tmp_path under $(BUILD)/e2e-tmp (kept until the next run).
# PYTEST_ARGS: more options, e.g. PYTEST_ARGS='-k python -x'.
PYTEST := /usr/bin/python3 -B -m pytest -p no:cacheprovider -q -rs
e2e: all e2e-progs | $(DEPS_STAMP)
	$(PYTEST) tests/e2e --build=$(BUILD) --basetemp=$(BUILD)/e2e-tmp \
		--junitxml=$(BUILD)/e2e-junit.xml $(PYTEST_ARGS)

e2e-progs:
	@$(MAKE) --no-print-directory -s -C tests/e2e/progs BUILD=$(abspath $(BUILD))

test: unit e2e browser

# The page in Debian's chromium (playwright-core, no browser download); fill-page is the C
# page writer (page.c) on its own, so the tests see the page as memtap writes it.
$(BROWSER_STAMP): tools/install-deps
	@tools/install-deps --browser
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/tests/browser/fill-page: tests/browser/fill_page.c $(BUILD)/reader/html/page.o $(PAGE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Ireader $(CFLAGS) $(LTO) -o $@ $^

# (and real captures: memtap and the e2e programs)
browser: $(PAGE_HTML) $(BUILD)/tests/browser/fill-page all e2e-progs | $(BROWSER_STAMP)
	MEMTAP_BUILD=$(BUILD) node --test --test-concurrency=1 $(BROWSER_TESTS)

# ASan interposes malloc itself, so it covers the reader and unit tests, not the library.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan: all
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan CFLAGS="$(ASAN_FLAGS)" LTO= \
		LDFLAGS="-fsanitize=address,undefined" $(BUILD)/asan/memtap asan-unit
	@$(MAKE) --no-print-directory e2e-progs
	MEMTAP_READER=$(BUILD)/asan/memtap $(PYTEST) tests/e2e --build=$(BUILD) \
		--basetemp=$(BUILD)/asan/e2e-tmp --junitxml=$(BUILD)/asan/e2e-junit.xml $(PYTEST_ARGS)

asan-unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t --jobs 2 || exit 1; done

bench: all
	@$(MAKE) --no-print-directory -s -C bench BUILD=$(BUILD)
	@python3 bench/run.py $(BUILD)
	@python3 bench/cc1.py $(BUILD)
	@python3 bench/python.py $(BUILD)

# a 1 G-event synthetic capture read by memtap summary (several GB on disk, minutes)
bench-huge: all
	@$(MAKE) --no-print-directory -s -C bench BUILD=$(BUILD)
	@python3 bench/huge.py $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/memtap
	install -m 755 $(BUILD)/memtap $(DESTDIR)$(PREFIX)/bin/memtap
	install -m 644 $(BUILD)/libmemtap.so $(DESTDIR)$(PREFIX)/lib/memtap/libmemtap.so

# libFuzzer on the decoder and replay (clang), seeded with captures the e2e tests leave.
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(filter-out reader/decode/pipeline.c,$(wildcard reader/decode/*.c reader/container/*.c)) \
	$(addprefix reader/,replay/replay.c replay/addrmap.c replay/timeline.c replay/leak_classes.c common/errors.c)
fuzz: | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/fuzz/corpus
	clang -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -Ireader -fsanitize=fuzzer,address,undefined \
		-o $(BUILD)/fuzz/fuzz_decoder tests/fuzz/fuzz_decoder.c $(FUZZ_SRC) -llz4
	@for f in $(BUILD)/demo.memtap $(BUILD)/shapes.memtap; do [ -f $$f ] || continue; \
		{ printf '\001'; lz4 -dc $$f; } | head -c 60000 > $(BUILD)/fuzz/corpus/raw-$$(basename $$f); \
		{ printf '\000'; cat $$f; } > $(BUILD)/fuzz/corpus/lz4-$$(basename $$f); done
	@for f in tests/golden/*.hex; do { printf '\001'; sed -e 's/#.*//' $$f | \
		awk '/^ *@lz4/ {on = 1; next} /^ *@file/ {on = 0} !/^ *@/ && on' | \
		xxd -r -p; } > $(BUILD)/fuzz/corpus/golden-$$(basename $$f .hex); done
	$(BUILD)/fuzz/fuzz_decoder -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
		-max_len=65536 $(BUILD)/fuzz/corpus

compile_commands.json:
	bear -- $(MAKE) -B all

format:
	clang-format -i preload/*/*.[ch] reader/*/*.[ch] include/memtap/*.h $(UNIT_SRC) tests/unit/support/*.h examples/*.c* bench/*.c

clean:
	rm -rf $(BUILD)

-include $(PRELOAD_OBJ:.o=.d) $(READER_OBJ:.o=.d)
# (the seam build's and the unit tests' too: a test is rebuilt when a header it reads changes)
-include $(BUILD)/seams/output/record.d $(UNIT_BIN:=.d)
