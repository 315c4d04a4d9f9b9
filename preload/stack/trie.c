/* Stack-trie interning for the preload library. */
#include "stack/trie.h"

#include <sys/mman.h>

#include "memtap/varint.h"

#define INITIAL_CAPACITY 4096

static memtap_trie_slot_t *map_slots(size_t n) {
    void *p = mmap(NULL, n * sizeof(memtap_trie_slot_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static size_t hash(uint32_t parent, uint64_t frame) { return (size_t)memtap_hash2(frame, parent); }

int memtap_trie_init(memtap_trie_t *t) {
    t->slots = map_slots(INITIAL_CAPACITY);
    t->mask = INITIAL_CAPACITY - 1;
    t->count = 0;
    return t->slots ? 0 : -1;
}

void memtap_trie_destroy(memtap_trie_t *t) {
    if (t->slots)
        munmap(t->slots, (t->mask + 1) * sizeof(memtap_trie_slot_t));
    t->slots = NULL;
}

static int grow(memtap_trie_t *t) {
    size_t cap = (t->mask + 1) * 2;
    memtap_trie_slot_t *s = map_slots(cap);
    if (!s)
        return -1;
    for (size_t i = 0; i <= t->mask; i++) {
        memtap_trie_slot_t *old = &t->slots[i];
        if (!old->id)
            continue;
        size_t j = hash(old->parent, old->frame) & (cap - 1);
        while (s[j].id)
            j = (j + 1) & (cap - 1);
        s[j] = *old;
    }
    munmap(t->slots, (t->mask + 1) * sizeof(memtap_trie_slot_t));
    t->slots = s;
    t->mask = cap - 1;
    return 0;
}

uint32_t memtap_trie_intern(memtap_trie_t *t, uint32_t parent, uint64_t frame, int *created) {
    *created = 0;
    size_t i = hash(parent, frame) & t->mask;
    for (;;) {
        memtap_trie_slot_t *s = &t->slots[i];
        if (!s->id)
            break;
        if (s->frame == frame && s->parent == parent)
            return s->id;
        i = (i + 1) & t->mask;
    }
    if ((size_t)t->count + 1 > (t->mask + 1) / 4 * 3 || t->count == UINT32_MAX - 1) {
        if (t->count == UINT32_MAX - 1 || grow(t) < 0)
            return 0;
        return memtap_trie_intern(t, parent, frame, created);
    }
    memtap_trie_slot_t *s = &t->slots[i];
    s->frame = frame;
    s->parent = parent;
    s->id = ++t->count;
    *created = 1;
    return s->id;
}
