/* Growable arrays: a struct with v, n and cap, grown by doubling. */
#ifndef MEMTAP_READER_VEC_H
#define MEMTAP_READER_VEC_H

#include <stddef.h>

#define MEMTAP_VEC(T)                                                                        \
    struct {                                                                                 \
        T *v;                                                                                \
        size_t n, cap;                                                                       \
    }

/* Room for `extra` more elements of vec. Returns 0, or -1 when out of memory. */
#define VEC_RESERVE(vec, extra)                                                              \
    memtap_vec_reserve((void **)&(vec).v, &(vec).cap, (vec).n + (extra), sizeof *(vec).v)

int memtap_vec_reserve(void **v, size_t *cap, size_t need, size_t elem);

/* The same through the allocator given (realloc's contract): for a test seam. */
int memtap_vec_reserve_by(void *(*realloc_fn)(void *, size_t), void **v, size_t *cap, size_t need,
                          size_t elem);

#endif
