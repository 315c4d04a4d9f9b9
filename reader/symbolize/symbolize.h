/* Offline symbolization with elfutils libdw: function names (demangled), source file and
 * line, inlined frames, from the modules recorded in the capture. A missing or changed
 * binary (build-id mismatch) degrades to module+offset; it never fails. */
#ifndef MEMTAP_READER_SYMBOLIZE_H
#define MEMTAP_READER_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "replay/replay.h"

typedef struct {
    const char *function; /* demangled; "module+0xoffset" or "??" when unknown */
    const char *file;     /* NULL when unknown */
    unsigned line;        /* 0 when unknown */
    const char *module;   /* path of the module, NULL when no module maps the address */
    uint64_t address;     /* the instruction pointer as recorded */
    int inlined;          /* this frame was inlined into the next one */
    int known;            /* function came from symbols or DWARF */
    int python;           /* a Python frame: function is the qualified name */
} memtap_frame_t;

typedef struct memtap_symbolizer memtap_symbolizer_t;

/* A new symbolizer for r (read to its end), or NULL when out of memory. It takes over the
 * modules the warm-up opened. */
memtap_symbolizer_t *memtap_symbolizer_new(const memtap_replay_t *r);
void memtap_symbolizer_free(memtap_symbolizer_t *s);

/* Symbolizing starts by reading each module's DWARF, which for a library whose debug
 * sections are compressed (Debian's libc) costs as much as reading a tenth of a 12 M
 * allocation capture. Called while the capture is still being read, once r holds its first
 * modules, this reads theirs on a thread that runs only on idle cycles; the next
 * memtap_symbolizer_new stops it, without waiting, and takes what it has read. Failures
 * only mean no warm-up. */
void memtap_symbols_warm_up(const memtap_replay_t *r);

/* Test seam: every allocation the symbolizer makes goes through this, with realloc's
 * contract (realloc by default; what it returns is released with free). Tests point it at
 * one that fails to see the symbolizer degrade. Not the warm-up's, nor libdw's own. */
extern void *(*memtap_symbolize_realloc)(void *p, size_t n);

/* Frames of the instruction pointer of node (innermost first, inlined ones included):
 * sets *frames to an array owned by the symbolizer and returns its length (>= 1). The array
 * is good until the next call. Out of memory, a frame may say "??" or be missing an inlined
 * frame; it never fails. */
size_t memtap_symbolize_node(memtap_symbolizer_t *s, uint32_t node, const memtap_frame_t **frames);

#endif
