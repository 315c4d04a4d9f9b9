/* Module files opened for symbols, shared by the symbolizer (symbolize.c) and its warm-up
 * (warm_up.c), and the allocation both go through. Internal to reader/symbolize/. */
#ifndef MEMTAP_READER_SYMBOLIZE_MODULES_H
#define MEMTAP_READER_SYMBOLIZE_MODULES_H

#include <elfutils/libdwfl.h>
#include <stddef.h>
#include <stdint.h>

#include "replay/replay.h"

/* A module of the capture and its file, opened. */
typedef struct {
    const memtap_module_t *module;
    Dwfl *dwfl;       /* NULL: the file could not be read */
    Dwfl_Module *mod; /* NULL: unreadable, or a changed binary (its build-id is not the one
                         recorded) */
} memtap_dwfl_entry_t;

/* Opens the module file at path for symbols: *dwfl (NULL when the file cannot be read) and
 * *mod (NULL also when its build-id is not the recorded one). */
void memtap_open_dwfl(const char *path, const uint8_t *build_id, size_t build_id_len, Dwfl **dwfl,
                      Dwfl_Module **mod);

/* Whether module a is the file path with that build-id. */
int memtap_same_module(const memtap_module_t *a, const char *path, const uint8_t *build_id,
                       size_t build_id_len);

/* Stops the warm-up (symbolize.h) and appends the modules of r it has opened to
 * (*v)[0..*n) (capacity *cap); those it has not are dropped. */
void memtap_symbols_take_warm(const memtap_replay_t *r, memtap_dwfl_entry_t **v, size_t *n,
                              size_t *cap);

/* Room for `need` elements of `elem` bytes in *v (capacity *cap, doubled as it grows),
 * allocated through memtap_symbolize_realloc. Returns 0, or -1 when out of memory (*v and
 * *cap unchanged). */
int memtap_symbolize_reserve(void **v, size_t *cap, size_t need, size_t elem);

#endif
