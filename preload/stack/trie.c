/* Stack-trie interning for the preload library: the table is memtap/hashtab.h's, in pages
 * mapped for it. */
#include "stack/trie.h"

#include <sys/mman.h>

#include "memtap/varint.h"

#define INITIAL_CAPACITY 4096

static void *map_zeroed(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

typedef struct {
    uint32_t parent;
    uint64_t frame;
} trie_key_t;

#define MEMTAP_HT_NAME trie_table
#define MEMTAP_HT_TABLE memtap_trie_t
#define MEMTAP_HT_SLOT memtap_trie_slot_t
#define MEMTAP_HT_KEY trie_key_t
#define MEMTAP_HT_HASH(k) memtap_hash2((k).frame, (k).parent)
#define MEMTAP_HT_SLOT_HASH(s) memtap_hash2((s)->frame, (s)->parent)
#define MEMTAP_HT_EMPTY(s) ((s)->id == 0)
#define MEMTAP_HT_MATCH(s, k) ((s)->frame == (k).frame && (s)->parent == (k).parent)
#define MEMTAP_HT_ALLOC(bytes) map_zeroed(bytes)
#define MEMTAP_HT_FREE(p, bytes) munmap((p), (bytes))
#include "memtap/hashtab.h"

int memtap_trie_init(memtap_trie_t *t) {
    return trie_table_init(t, INITIAL_CAPACITY);
}

void memtap_trie_destroy(memtap_trie_t *t) {
    trie_table_destroy(t);
}

uint32_t memtap_trie_intern(memtap_trie_t *t, uint32_t parent, uint64_t frame, int *created) {
    int found;
    memtap_trie_slot_t *s = trie_table_upsert(t, (trie_key_t){parent, frame}, &found);
    *created = 0;
    if (!s)
        return 0;
    if (!found) {
        if (t->count >= UINT32_MAX) { /* ids are 32 bits: no more nodes */
            t->count--;
            return 0;
        }
        *s = (memtap_trie_slot_t){frame, parent, (uint32_t)t->count};
        *created = 1;
    }
    return s->id;
}
