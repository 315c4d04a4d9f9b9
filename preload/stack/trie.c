/* Stack-trie interning for the preload library: the (parent, frame) table is
 * memtap/hashtab.h's, the nodes by id and the whole-stack table are read without a lock,
 * so they are never moved: nodes sit in chunks that stay, and a whole-stack table that is
 * outgrown stays mapped beside its successor. */
#include "stack/trie.h"

#include <string.h>
#include <sys/mman.h>

#include "memtap/varint.h"

#define INITIAL_CAPACITY 4096
#define INITIAL_STACKS 4096
#define CHUNK_NODES (1u << MEMTAP_TRIE_CHUNK_BITS)

static void *map_zeroed(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

typedef struct {
    uint32_t parent;
    uint64_t frame;
} trie_key_t;

#define MEMTAP_HT_NAME trie_table
#define MEMTAP_HT_TABLE memtap_trie_index_t
#define MEMTAP_HT_SLOT memtap_trie_slot_t
#define MEMTAP_HT_KEY trie_key_t
#define MEMTAP_HT_HASH(k) memtap_hash2((k).frame, (k).parent)
#define MEMTAP_HT_SLOT_HASH(s) memtap_hash2((s)->frame, (s)->parent)
#define MEMTAP_HT_EMPTY(s) ((s)->id == 0)
#define MEMTAP_HT_MATCH(s, k) ((s)->frame == (k).frame && (s)->parent == (k).parent)
#define MEMTAP_HT_ALLOC(bytes) map_zeroed(bytes)
#define MEMTAP_HT_FREE(p, bytes) munmap((p), (bytes))
#include "memtap/hashtab.h"

/* A whole-stack table of `slots` slots, as the next of t's tables. */
static memtap_trie_stacks_t *new_stacks(memtap_trie_t *t, size_t slots) {
    if (t->ntables == MEMTAP_TRIE_RETIRED)
        return NULL;
    memtap_trie_stacks_t *tab = &t->tables[t->ntables];
    if (!(tab->slots = map_zeroed(slots * sizeof *tab->slots)))
        return NULL;
    tab->mask = slots - 1;
    t->ntables++;
    return tab;
}

int memtap_trie_init(memtap_trie_t *t) {
    memset(t, 0, sizeof *t);
    t->chunks = map_zeroed(MEMTAP_TRIE_CHUNKS * sizeof *t->chunks);
    if (!t->chunks || !(t->chunks[0] = map_zeroed(CHUNK_NODES * sizeof **t->chunks)) ||
        !(t->stacks = new_stacks(t, INITIAL_STACKS)) ||
        trie_table_init(&t->index, INITIAL_CAPACITY) < 0) {
        memtap_trie_destroy(t);
        return -1;
    }
    return 0;
}

void memtap_trie_destroy(memtap_trie_t *t) {
    trie_table_destroy(&t->index);
    for (int i = 0; i < t->ntables; i++)
        munmap(t->tables[i].slots, (t->tables[i].mask + 1) * sizeof *t->tables[i].slots);
    t->ntables = 0;
    t->stacks = NULL;
    for (int i = 0; i < MEMTAP_TRIE_COPY_CHUNKS && t->copies[i]; i++) {
        munmap(t->copies[i], MEMTAP_TRIE_COPY_BYTES);
        t->copies[i] = NULL;
    }
    if (t->chunks) {
        for (size_t i = 0; i < MEMTAP_TRIE_CHUNKS && t->chunks[i]; i++)
            munmap(t->chunks[i], CHUNK_NODES * sizeof **t->chunks);
        munmap(t->chunks, MEMTAP_TRIE_CHUNKS * sizeof *t->chunks);
        t->chunks = NULL;
    }
}

void memtap_trie_clear(memtap_trie_t *t) {
    memset(t->index.slots, 0, (t->index.mask + 1) * sizeof *t->index.slots);
    t->index.count = 0;
    memtap_trie_stacks_t *tab = t->stacks;
    for (size_t i = 0; i <= tab->mask; i++)
        __atomic_store_n(&tab->slots[i].key, 0, __ATOMIC_RELAXED);
    t->stack_count = 0;
    t->copy_chunk = 0;
    t->copy_used = 0;
}

uint32_t memtap_trie_intern(memtap_trie_t *t, uint32_t parent, uint64_t frame, int *created) {
    int found;
    memtap_trie_slot_t *s = trie_table_upsert(&t->index, (trie_key_t){parent, frame}, &found);
    *created = 0;
    if (!s)
        return 0;
    if (found)
        return s->id;
    uint64_t id = t->index.count;
    memtap_trie_node_t **chunk = &t->chunks[id >> MEMTAP_TRIE_CHUNK_BITS];
    if (id >= UINT32_MAX || (!*chunk && !(*chunk = map_zeroed(CHUNK_NODES * sizeof **chunk)))) {
        t->index.count--; /* ids are 32 bits, or no memory: no more nodes */
        return 0;
    }
    (*chunk)[id & (CHUNK_NODES - 1)] = (memtap_trie_node_t){frame, parent, 0};
    *s = (memtap_trie_slot_t){frame, parent, (uint32_t)id};
    *created = 1;
    return (uint32_t)id;
}

/* key's slot in tab: the one holding (key, depth), or the empty one where it goes. */
static memtap_trie_stack_t *stack_slot(const memtap_trie_stacks_t *tab, uint64_t key,
                                       uint32_t depth) {
    for (size_t i = (key >> 32) & tab->mask;; i = (i + 1) & tab->mask) {
        memtap_trie_stack_t *s = &tab->slots[i];
        if (!s->key || (s->key == key && s->depth == depth))
            return s;
    }
}

/* A table twice the size holding the current one's stacks, made current. */
static int grow_stacks(memtap_trie_t *t) {
    const memtap_trie_stacks_t *old = t->stacks;
    memtap_trie_stacks_t *tab = new_stacks(t, 2 * (old->mask + 1));
    if (!tab)
        return -1;
    for (size_t i = 0; i <= old->mask; i++)
        if (old->slots[i].key)
            *stack_slot(tab, old->slots[i].key, old->slots[i].depth) = old->slots[i];
    __atomic_store_n(&t->stacks, tab, __ATOMIC_RELEASE);
    return 0;
}

/* Room for a copy of n frames, or NULL when the memory for copies is used up. */
static uint64_t *copy_room(memtap_trie_t *t, uint32_t n) {
    const size_t words = MEMTAP_TRIE_COPY_BYTES / sizeof(uint64_t);
    if (n > words || t->copy_chunk == MEMTAP_TRIE_COPY_CHUNKS)
        return NULL;
    if (t->copy_used + n > words) {
        t->copy_used = 0;
        if (++t->copy_chunk == MEMTAP_TRIE_COPY_CHUNKS)
            return NULL;
    }
    if (!t->copies[t->copy_chunk] &&
        !(t->copies[t->copy_chunk] = map_zeroed(MEMTAP_TRIE_COPY_BYTES)))
        return NULL;
    uint64_t *p = t->copies[t->copy_chunk] + t->copy_used;
    t->copy_used += n;
    return p;
}

int memtap_trie_stack_put(memtap_trie_t *t, uint64_t key, uint32_t depth, uint32_t leaf,
                          const uint64_t *frames) {
    if (2 * (t->stack_count + 1) > t->stacks->mask + 1 && grow_stacks(t) < 0)
        return -1;
    memtap_trie_stack_t *s = stack_slot(t->stacks, key, depth);
    if (s->key)
        return 0;
    uint64_t *copy = frames ? copy_room(t, depth) : NULL;
    if (copy)
        memcpy(copy, frames, depth * sizeof *copy);
    s->depth = depth;
    s->leaf = leaf;
    s->frames = copy;
    __atomic_store_n(&s->key, key, __ATOMIC_RELEASE); /* after the rest */
    t->stack_count++;
    return 0;
}
