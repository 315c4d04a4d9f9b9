/* Offline symbolization with elfutils libdw: function names (demangled), source file and
 * line, inlined frames, from the modules recorded in the capture. A missing or changed
 * binary (build-id mismatch) degrades to module+offset; it never fails. */
#ifndef MEMTAP_READER_SYMBOLIZE_H
#define MEMTAP_READER_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "replay.h"

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

memtap_symbolizer_t *memtap_symbolizer_new(const memtap_replay_t *r);
void memtap_symbolizer_free(memtap_symbolizer_t *s);

/* Frames of the instruction pointer of node (innermost first, inlined ones included):
 * sets *frames to an array owned by the symbolizer and returns its length (>= 1). */
size_t memtap_symbolize_node(memtap_symbolizer_t *s, uint32_t node, const memtap_frame_t **frames);

#endif
