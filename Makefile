# memtap: one non-recursive Makefile. Outputs go to build/.
#   make            build build/libmemtap.so and build/memtap (installs missing packages)
#   make demo       run the leaky example under memtap and print its leak report
#   make test       unit tests (Criterion) and end-to-end tests
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
# reentrancy guard is (tracker.h); the hooks change nothing else while it is set.
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
# the library's modules the unit tests link (never the preloaded library itself)
UNIT_PRELOAD_OBJ := $(addprefix $(BUILD)/preload/,output/record.o stack/trie.o output/sink.o \
	stack/stacks.o stack/gate.o stack/fastunwind.o stack/cfi.o \
	leaks/index.o leaks/memread.o leaks/scan.o leaks/drain.o leaks/classify.o \
	leaks/roots.o)

DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all deps demo test unit e2e e2e-progs asan asan-unit bench bench-huge fuzz install clean format help
all: $(BUILD)/libmemtap.so $(BUILD)/memtap

help:
	@sed -n '2,10p' Makefile | sed 's/^# //'

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

$(BUILD)/reader/%.o: reader/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Ireader -DMEMTAP_VERSION='"$(VERSION)"' $(CFLAGS) $(LTO) -c $< -o $@

$(BUILD)/libmemtap.so: $(PRELOAD_OBJ)
	$(CC) $(CFLAGS) $(LTO) -shared -Wl,-z,defs -Wl,-soname,libmemtap.so -o $@ $^ $(PRELOAD_LIBS)

$(BUILD)/memtap: $(READER_OBJ)
	$(CC) $(CFLAGS) $(LTO) $(LDFLAGS) -o $@ $^ $(READER_LIBS)

# Unit tests link module objects directly (never the preloaded library).
$(BUILD)/tests/%: tests/unit/%.c $(READER_LIB_OBJ) $(UNIT_PRELOAD_OBJ) \
		tests/unit/support/capture_builder.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Ireader -Ipreload -Itests/unit $(CFLAGS) $(LTO) -o $@ $< $(READER_LIB_OBJ) \
		$(UNIT_PRELOAD_OBJ) $(READER_LIBS) -lcriterion -lunwind -lgcc_s -lpthread

demo: all
	@$(MAKE) --no-print-directory -s -C examples BUILD=$(BUILD)
	@rm -f $(BUILD)/demo.memtap
	$(BUILD)/memtap run -o $(BUILD)/demo.memtap -- $(BUILD)/examples/leaky 3
	$(BUILD)/memtap summary $(BUILD)/demo.memtap
	$(BUILD)/memtap leaks $(BUILD)/demo.memtap

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

test: unit e2e

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
FUZZ_SRC := $(addprefix reader/,decode/batch.c decode/decoder.c decode/decoder_v3.c decode/merge.c \
	decode/thread_model.c decode/source.c replay/replay.c replay/addrmap.c common/errors.c)
fuzz: | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/fuzz/corpus
	clang -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -Ireader -fsanitize=fuzzer,address,undefined \
		-o $(BUILD)/fuzz/fuzz_decoder tests/fuzz/fuzz_decoder.c $(FUZZ_SRC) -llz4
	@for f in $(BUILD)/demo.memtap $(BUILD)/shapes.memtap; do [ -f $$f ] || continue; \
		{ printf '\001'; lz4 -dc $$f; } | head -c 60000 > $(BUILD)/fuzz/corpus/raw-$$(basename $$f); \
		{ printf '\000'; cat $$f; } > $(BUILD)/fuzz/corpus/lz4-$$(basename $$f); done
	$(BUILD)/fuzz/fuzz_decoder -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
		-max_len=65536 $(BUILD)/fuzz/corpus

compile_commands.json:
	bear -- $(MAKE) -B all

format:
	clang-format -i preload/*/*.[ch] reader/*/*.[ch] include/memtap/*.h $(UNIT_SRC) tests/unit/support/*.h examples/*.c* bench/*.c

clean:
	rm -rf $(BUILD)

-include $(PRELOAD_OBJ:.o=.d) $(READER_OBJ:.o=.d)
