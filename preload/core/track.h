/* Recording allocations, frees and reallocations into the calling thread's buffer
 * (track.c). The hooks (hooks/, python/pymem.c) call these with memtap_guard set. */
#ifndef MEMTAP_PRELOAD_TRACK_H
#define MEMTAP_PRELOAD_TRACK_H

#include <stddef.h>

#include "memtap/varint.h"
#include "output/record.h"

/* Room for one record and a SKIP before it. */
#define MEMTAP_RECORD_ROOM (MEMTAP_ENC_FIXED_MAX + MEMTAP_VARINT_MAX + 1)

/* track_alloc runs after the real allocation returned, track_free and track_munmap before
 * the real call (the FREE's key orders it before any reuse of the address). Called from
 * inside malloc; they allocate nothing and may change errno (the hooks keep it). */
void memtap_track_alloc(unsigned kind, void *p, size_t size);
void memtap_track_free(void *p);
void memtap_track_munmap(void *p, size_t len);

/* realloc and reallocarray: unwinds, takes the FREE's ticket, then calls the real function,
 * so a reuse of the old address by another thread gets a later key than its FREE. Returns
 * what the real function returned, with its errno. */
void *memtap_track_realloc(unsigned kind, void *p, size_t n, size_t size);

/* The same with another allocator's realloc: call(ctx, p, n, size) with n = 0 for a plain
 * realloc. Used by the PyMem wrappers. */
typedef void *(*memtap_realloc_fn)(void *ctx, void *p, size_t n, size_t size);
void *memtap_track_realloc_with(unsigned kind, void *p, size_t n, size_t size,
                                memtap_realloc_fn call, void *ctx);

#endif
