/* Open addressing with linear probing: the one hash-table implementation of both halves
 * (stack trie, unwind rules, live blocks, node keys, symbol caches...). Header-only and
 * allocation-agnostic: a table's memory comes from the allocator its user names (the library
 * maps pages, the reader uses calloc), so the functions may run inside malloc when that
 * allocator may. No function here allocates unless its table names an allocator.
 *
 * A table is a MEMTAP_HASHTAB(slot type): a power of two of slots, mask (their number - 1)
 * and count (entries). An all-zero slot is an empty one. The functions are generated for one
 * table by including this file with the parameters below defined; the file undefines them,
 * so it may be included again for another table.
 *
 *   MEMTAP_HT_NAME           prefix of the generated functions
 *   MEMTAP_HT_TABLE          the table's type, a MEMTAP_HASHTAB(MEMTAP_HT_SLOT)
 *   MEMTAP_HT_SLOT           the slot type: zero bytes must make an empty slot
 *   MEMTAP_HT_KEY            the key type, passed by value
 *   MEMTAP_HT_HASH(k)        a well-spread hash of key k: its low bits pick the home slot
 *   MEMTAP_HT_EMPTY(s)       whether slot *s is empty
 *   MEMTAP_HT_MATCH(s, k)    whether slot *s, not empty, holds key k
 * optional:
 *   MEMTAP_HT_SLOT_HASH(s)   MEMTAP_HT_HASH of the key slot *s holds: to grow and to remove
 *   MEMTAP_HT_CLEAR(s)       makes slot *s empty after a remove, where storing zero in the
 *                            whole slot would cost more than need be (default: all zero)
 *   MEMTAP_HT_ALLOC(bytes)   zeroed memory, or NULL; with MEMTAP_HT_FREE(p, bytes): to
 *                            init, destroy and grow, and so for upsert
 *   MEMTAP_HT_LOAD_NUM, MEMTAP_HT_LOAD_DEN  upsert grows the table rather than fill more
 *                            than NUM/DEN of its slots (default 3/4)
 *   MEMTAP_HT_MAX_PROBES     find gives up after this many slots (a fixed-size table that
 *                            is left to crowd instead of growing)
 *   MEMTAP_HT_MATCH_FIRST    with MAX_PROBES: no key matches an empty slot, so find tests
 *                            for the key first (one read of a slot's key where it is found,
 *                            where reads are atomic loads that cannot be merged)
 *
 * Generated, N standing for MEMTAP_HT_NAME, T for the table, S for the slot and K for the key:
 *   S *N_find_in(S *slots, size_t mask, K k)   the slot holding k, or NULL
 *   S *N_find(const T *t, K k)                 the same in t
 *   S *N_probe(S *slots, size_t mask, K k, int *found)   the slot holding k (*found = 1),
 *                                              or the empty one where k would go (0); not
 *                                              with MAX_PROBES
 *   void N_remove(T *t, S *s)                  empties s, an entry's slot; backward-shift
 *                                              deletion keeps probe chains unbroken with
 *                                              no tombstones (needs SLOT_HASH)
 * and with an allocator:
 *   int N_init(T *t, size_t capacity)          an empty table (capacity: a power of two);
 *                                              0, or -1 when out of memory
 *   void N_destroy(T *t)                       gives its memory back
 *   int N_grow(T *t)                           doubles the slots: 0, or -1 (t unchanged)
 *   S *N_upsert(T *t, K k, int *found)         the slot holding k (*found = 1), or else
 *                                              (*found = 0) an empty slot for k, counted
 *                                              already, which the caller fills with k's
 *                                              entry before using t again; grows t first
 *                                              when the entry would fill it past the load
 *                                              limit; NULL when that fails
 * Slots move when the table grows or loses an entry: a slot pointer is good until then. */

#ifndef MEMTAP_HASHTAB_H
#define MEMTAP_HASHTAB_H

#include <stddef.h>
#include <stdint.h>

#define MEMTAP_HASHTAB(slot_type)                                                                  \
    struct {                                                                                       \
        slot_type *slots;                                                                          \
        size_t mask, count;                                                                        \
    }

#define MEMTAP_HT_CAT2(a, b) a##b
#define MEMTAP_HT_CAT(a, b) MEMTAP_HT_CAT2(a, b)

#endif /* MEMTAP_HASHTAB_H */

/* ---- one table's functions: this part runs at every inclusion with MEMTAP_HT_NAME --- */

#ifdef MEMTAP_HT_NAME /* (included only for MEMTAP_HASHTAB: nothing more) */
#if !defined(MEMTAP_HT_TABLE) || !defined(MEMTAP_HT_SLOT) || !defined(MEMTAP_HT_KEY) ||            \
    !defined(MEMTAP_HT_HASH) || !defined(MEMTAP_HT_EMPTY) || !defined(MEMTAP_HT_MATCH)
#error "memtap/hashtab.h: MEMTAP_HT_NAME needs MEMTAP_HT_TABLE, _SLOT, _KEY, _HASH, _EMPTY, _MATCH"
#endif

#define MEMTAP_HT_FN(suffix) MEMTAP_HT_CAT(MEMTAP_HT_NAME, suffix)

#ifndef MEMTAP_HT_MAX_PROBES
/* The slot holding k (*found = 1), or the empty slot that ends its probe chain (*found = 0;
 * there is one: a table is never full). */
static inline MEMTAP_HT_SLOT *MEMTAP_HT_FN(_probe)(MEMTAP_HT_SLOT *slots, size_t mask,
                                                   MEMTAP_HT_KEY k, int *found) {
    for (size_t i = (size_t)(MEMTAP_HT_HASH(k)) & mask;; i = (i + 1) & mask) {
        MEMTAP_HT_SLOT *s = &slots[i];
        if (MEMTAP_HT_EMPTY(s)) {
            *found = 0;
            return s;
        }
        if (MEMTAP_HT_MATCH(s, k)) {
            *found = 1;
            return s;
        }
    }
}

static inline MEMTAP_HT_SLOT *MEMTAP_HT_FN(_find_in)(MEMTAP_HT_SLOT *slots, size_t mask,
                                                     MEMTAP_HT_KEY k) {
    int found;
    MEMTAP_HT_SLOT *s = MEMTAP_HT_FN(_probe)(slots, mask, k, &found);
    return found ? s : NULL;
}
#else
static inline MEMTAP_HT_SLOT *MEMTAP_HT_FN(_find_in)(MEMTAP_HT_SLOT *slots, size_t mask,
                                                     MEMTAP_HT_KEY k) {
    size_t i = (size_t)(MEMTAP_HT_HASH(k)) & mask;
    for (unsigned probes = 0; probes < (MEMTAP_HT_MAX_PROBES); probes++, i = (i + 1) & mask) {
        MEMTAP_HT_SLOT *s = &slots[i];
#ifdef MEMTAP_HT_MATCH_FIRST
        if (MEMTAP_HT_MATCH(s, k))
            return s;
        if (MEMTAP_HT_EMPTY(s))
            return NULL;
#else
        if (MEMTAP_HT_EMPTY(s))
            return NULL;
        if (MEMTAP_HT_MATCH(s, k))
            return s;
#endif
    }
    return NULL;
}
#endif

static inline MEMTAP_HT_SLOT *MEMTAP_HT_FN(_find)(const MEMTAP_HT_TABLE *t, MEMTAP_HT_KEY k) {
    return MEMTAP_HT_FN(_find_in)(t->slots, t->mask, k);
}

#ifdef MEMTAP_HT_SLOT_HASH
static inline void MEMTAP_HT_FN(_remove)(MEMTAP_HT_TABLE *t, MEMTAP_HT_SLOT *s) {
    size_t hole = (size_t)(s - t->slots), j = hole;
    for (;;) {
        j = (j + 1) & t->mask;
        MEMTAP_HT_SLOT *next = &t->slots[j];
        if (MEMTAP_HT_EMPTY(next))
            break;
        /* next may fill the hole when the hole lies between its home and it */
        size_t home = (size_t)(MEMTAP_HT_SLOT_HASH(next)) & t->mask;
        if (((j - home) & t->mask) >= ((j - hole) & t->mask)) {
            t->slots[hole] = *next;
            hole = j;
        }
    }
#ifdef MEMTAP_HT_CLEAR
    MEMTAP_HT_CLEAR(&t->slots[hole]);
#else
    t->slots[hole] = (MEMTAP_HT_SLOT){0};
#endif
    t->count--;
}
#endif

#if defined(MEMTAP_HT_ALLOC) && defined(MEMTAP_HT_FREE) && defined(MEMTAP_HT_SLOT_HASH) &&         \
    !defined(MEMTAP_HT_MAX_PROBES)
#ifndef MEMTAP_HT_LOAD_NUM
#define MEMTAP_HT_LOAD_NUM 3
#define MEMTAP_HT_LOAD_DEN 4
#endif

static inline int MEMTAP_HT_FN(_init)(MEMTAP_HT_TABLE *t, size_t capacity) {
    t->slots = MEMTAP_HT_ALLOC(capacity * sizeof(MEMTAP_HT_SLOT));
    t->mask = capacity - 1;
    t->count = 0;
    return t->slots ? 0 : -1;
}

static inline void MEMTAP_HT_FN(_destroy)(MEMTAP_HT_TABLE *t) {
    if (t->slots)
        MEMTAP_HT_FREE(t->slots, (t->mask + 1) * sizeof(MEMTAP_HT_SLOT));
    t->slots = NULL;
}

/* Out of line: the probe loops it sits beside stay small. (Not marked cold: GCC would then
 * place a loop that calls upsert in the cold section; upsert says the branch is unlikely.) */
static __attribute__((noinline, unused)) int MEMTAP_HT_FN(_grow)(MEMTAP_HT_TABLE *t) {
    size_t cap = (t->mask + 1) * 2;
    MEMTAP_HT_SLOT *slots = MEMTAP_HT_ALLOC(cap * sizeof(MEMTAP_HT_SLOT));
    if (!slots)
        return -1;
    for (size_t i = 0; i <= t->mask; i++) {
        const MEMTAP_HT_SLOT *old = &t->slots[i];
        if (MEMTAP_HT_EMPTY(old))
            continue;
        size_t j = (size_t)(MEMTAP_HT_SLOT_HASH(old)) & (cap - 1);
        while (!MEMTAP_HT_EMPTY(&slots[j]))
            j = (j + 1) & (cap - 1);
        slots[j] = *old;
    }
    MEMTAP_HT_FREE(t->slots, (t->mask + 1) * sizeof(MEMTAP_HT_SLOT));
    t->slots = slots;
    t->mask = cap - 1;
    return 0;
}

static inline MEMTAP_HT_SLOT *MEMTAP_HT_FN(_upsert)(MEMTAP_HT_TABLE *t, MEMTAP_HT_KEY k,
                                                    int *found) {
    MEMTAP_HT_SLOT *s = MEMTAP_HT_FN(_probe)(t->slots, t->mask, k, found);
    if (*found)
        return s;
    size_t limit = (t->mask + 1) * (MEMTAP_HT_LOAD_NUM);
    if (__builtin_expect((t->count + 1) * (MEMTAP_HT_LOAD_DEN) > limit, 0)) {
        if (MEMTAP_HT_FN(_grow)(t) < 0)
            return NULL;
        s = MEMTAP_HT_FN(_probe)(t->slots, t->mask, k, found);
    }
    t->count++;
    return s;
}
#endif

#undef MEMTAP_HT_FN
#endif /* MEMTAP_HT_NAME */
#undef MEMTAP_HT_NAME
#undef MEMTAP_HT_TABLE
#undef MEMTAP_HT_SLOT
#undef MEMTAP_HT_KEY
#undef MEMTAP_HT_HASH
#undef MEMTAP_HT_EMPTY
#undef MEMTAP_HT_MATCH
#undef MEMTAP_HT_SLOT_HASH
#undef MEMTAP_HT_CLEAR
#undef MEMTAP_HT_ALLOC
#undef MEMTAP_HT_FREE
#undef MEMTAP_HT_MAX_PROBES
#undef MEMTAP_HT_MATCH_FIRST
#undef MEMTAP_HT_LOAD_NUM
#undef MEMTAP_HT_LOAD_DEN
