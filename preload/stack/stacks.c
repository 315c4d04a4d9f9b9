/* Per-thread last-stack cache in front of the stack trie. */
#include "stack/stacks.h"

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
    uint32_t image; /* memtap_image_seq of the stack cached */
    int depth;      /* frames cached, outermost first */
    int cap;
    size_t bytes;   /* of the mapping */
    uint64_t *frames;
    uint32_t *nodes; /* nodes[i]: the node of the path frames[0..i] */
} cache_t;

static __thread cache_t *tls_cache __attribute__((tls_model("initial-exec")));

static cache_t *thread_cache(int max_depth) {
    cache_t *c = tls_cache;
    if (c && c->cap >= max_depth)
        return c;
    size_t bytes = sizeof(cache_t) + (size_t)max_depth * (sizeof(uint64_t) + sizeof(uint32_t));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    cache_t *old = c;
    c = p;
    c->image = old ? old->image : 0;
    c->depth = old ? old->depth : 0;
    c->cap = max_depth;
    c->bytes = bytes;
    c->frames = (uint64_t *)(c + 1);
    c->nodes = (uint32_t *)(c->frames + max_depth);
    if (old) { /* the last stack stays: a caller's `known` frames are read from here */
        memcpy(c->frames, old->frames, (size_t)old->depth * sizeof *c->frames);
        memcpy(c->nodes, old->nodes, (size_t)old->depth * sizeof *c->nodes);
    }
    memtap_stack_cache_release();
    tls_cache = c;
    return c;
}

void memtap_stack_fill_outer(uint64_t *frames, int n, int known) {
    const cache_t *c = tls_cache;
    for (int j = 0; c && j < known && j < c->depth; j++)
        frames[n - 1 - j] = c->frames[j];
}

void memtap_stack_cache_release(void) {
    cache_t *c = tls_cache;
    tls_cache = NULL;
    if (c)
        munmap(c, c->bytes);
}

int memtap_stack_lookup(uint32_t image, const uint64_t *frames, int n, int known,
                        uint32_t *leaf) {
    const cache_t *c = tls_cache;
    if (!c || c->image != image || c->depth != n)
        return 0;
    for (int j = 0; j < n - known; j++) /* innermost frames differ most often: first */
        if (c->frames[n - 1 - j] != frames[j])
            return 0;
    *leaf = n ? c->nodes[n - 1] : 0;
    return 1;
}

int memtap_stack_intern(memtap_trie_t *trie, uint32_t image, const uint64_t *frames, int n,
                        int known, int max_depth, memtap_node_emit_fn emit, uint32_t *leaf) {
    cache_t *c = thread_cache(n > max_depth ? n : max_depth);
    if (known && (!c || known > c->depth || known > n))
        return -1; /* the known frames are not in the cache: never so when callers keep to
                      memtap_stack_of_call's contract */
    int common = 0;
    if (c && c->image == image) {
        int lim = n < c->depth ? n : c->depth;
        common = known < lim ? known : lim;
        while (common < lim && c->frames[common] == frames[n - 1 - common])
            common++;
    }
    uint32_t node = common ? c->nodes[common - 1] : 0;
    for (int j = common; j < n; j++) { /* j counts from the outermost frame */
        /* the known frames may be unwritten in frames: the cache has them (another
         * image's cache gives its frames, not its nodes) */
        uint64_t frame = j < known ? c->frames[j] : frames[n - 1 - j];
        int created;
        uint32_t parent = node;
        node = memtap_trie_intern(trie, parent, frame, &created);
        if (!node || (created && emit(node, parent, frame) < 0)) {
            if (c)
                c->depth = 0;
            return -1;
        }
        if (c) {
            c->frames[j] = frame;
            c->nodes[j] = node;
        }
    }
    if (c) {
        c->depth = n;
        c->image = image;
    }
    *leaf = node;
    return 0;
}
