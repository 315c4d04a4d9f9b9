/* Text output helpers shared by the reports: sizes, counts, colour, stacks, paths. */
#ifndef MEMTAP_READER_OUTPUT_H
#define MEMTAP_READER_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "symbolize/symbolize.h"

/* "1.5 KiB": bytes as B/KiB/MiB/GiB/TiB with one decimal (exact below 1 KiB). */
const char *memtap_fmt_size(uint64_t bytes, char *buf, size_t cap);

/* "12,345": a count with thousands separators. */
const char *memtap_fmt_count(uint64_t n, char *buf, size_t cap);

/* Colour: on only when stdout is a terminal and NO_COLOR is unset. */
void memtap_color_init(void);
const char *memtap_bold(void);
const char *memtap_dim(void);
const char *memtap_red(void);
const char *memtap_reset(void);

/* path relative to the current directory when it lies below it. */
const char *memtap_short_path(const char *path);

/* Prints frames of the stack ending at node, innermost first, indented; Python frames
 * merged in (see stack_view.h) and marked [py]. */
void memtap_print_stack(FILE *out, memtap_symbolizer_t *sym, const memtap_replay_t *r,
                        uint32_t node, int python_only, const char *indent);

/* The name of an allocator kind ("malloc", "mmap", ...). */
const char *memtap_kind_name(unsigned kind);

#endif
