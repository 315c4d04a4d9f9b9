/* Per-thread last-stack cache in front of the stack trie, and the whole-stack shortcut. */
#include "stack/stacks.h"

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
    uint32_t image; /* memtap_image_seq of the stack cached */
    int depth;      /* frames cached, outermost first */
    int nodes;      /* how many of them have their node in node[] (the outermost ones) */
    int whole;      /* the cache holds a whole stack of `depth` frames, whose node is leaf */
    uint32_t leaf;
    int cap;
    size_t bytes;   /* of the mapping */
    uint64_t *frames;
    uint64_t *hash; /* hash[i]: prefix_hash of frames[0..i] (the same in every image) */
    uint32_t *node; /* node[i]: the node of the path frames[0..i], for i < nodes */
} cache_t;

static __thread cache_t *tls_cache __attribute__((tls_model("initial-exec")));

/* The hash of a path from the root: frame by frame from the outermost, so that the last
 * stack's hashes serve the frames it shares with the next. Rotate, add, multiply: every
 * frame reaches the top bits, which pick the slot (trie.h). */
#define HASH_SEED 0x243f6a8885a308d3ull
static inline uint64_t prefix_hash(uint64_t h, uint64_t frame) {
    return ((h << 27 | h >> 37) ^ frame) * 0x9e3779b97f4a7c15ull;
}
/* The table's key of a stack whose hash is h (0 marks an empty slot). */
static inline uint64_t stack_key(uint64_t h) { return h ? h : 1; }

uint64_t memtap_stack_key(const uint64_t *frames, int n) {
    uint64_t h = HASH_SEED;
    for (int i = n - 1; i >= 0; i--)
        h = prefix_hash(h, frames[i]);
    return stack_key(h);
}

static cache_t *thread_cache(int max_depth) {
    cache_t *c = tls_cache;
    if (c && c->cap >= max_depth)
        return c;
    size_t bytes = sizeof(cache_t) + (size_t)max_depth * (2 * sizeof(uint64_t) + sizeof(uint32_t));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    cache_t *old = c;
    c = p;
    if (old) /* the last stack stays: a caller's `known` frames are read from here */
        memcpy(c, old, sizeof *c);
    c->cap = max_depth;
    c->bytes = bytes;
    c->frames = (uint64_t *)(c + 1);
    c->hash = c->frames + max_depth;
    c->node = (uint32_t *)(c->hash + max_depth);
    if (old) {
        memcpy(c->frames, old->frames, (size_t)old->depth * sizeof *c->frames);
        memcpy(c->hash, old->hash, (size_t)old->depth * sizeof *c->hash);
        memcpy(c->node, old->node, (size_t)old->nodes * sizeof *c->node);
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
    if (!c || c->image != image || c->depth != n || !c->whole)
        return 0;
    for (int j = 0; j < n - known; j++) /* innermost frames differ most often: first */
        if (c->frames[n - 1 - j] != frames[j])
            return 0;
    *leaf = c->leaf;
    return 1;
}

/* How many outermost frames of frames[0..n) are the cache's (at least known, which the
 * caller vouches for; frames the cache holds in another image count too). */
static int common_frames(const cache_t *c, const uint64_t *frames, int n, int known) {
    int lim = n < c->depth ? n : c->depth;
    int common = known < lim ? known : lim;
    while (common < lim && c->frames[common] == frames[n - 1 - common])
        common++;
    return common;
}

/* Whether the n frames at x and at y are the same (libc's memcmp: vector loads, and
 * cheaper than a loop of ours from about eight frames on). */
static inline int same_frames(const uint64_t *x, const uint64_t *y, int n) {
    return memcmp(x, y, (size_t)n * sizeof *x) == 0;
}

/* Whether trie node `node` stands for the path c->frames[0..n): up from it to the part
 * whose nodes the cache holds (in another image, to the root). Notes the nodes it meets. */
static int is_path(const memtap_trie_t *trie, cache_t *c, uint32_t image, uint32_t node, int n) {
    int anchor = c->image == image ? c->nodes : 0;
    uint32_t top = anchor ? c->node[anchor - 1] : 0, id = node;
    memtap_trie_node_t *const *chunks = trie->chunks;
    for (int j = n - 1; j >= anchor; j--) {
        const memtap_trie_node_t *e = memtap_trie_node_in(chunks, id);
        if (!e || e->frame != c->frames[j])
            return 0;
        c->node[j] = id;
        id = e->parent;
    }
    if (id != top)
        return 0;
    c->nodes = n;
    return 1;
}

int memtap_stack_find(const memtap_trie_t *trie, uint32_t image, const uint64_t *frames, int n,
                      int known, uint32_t *leaf) {
    cache_t *c = tls_cache;
    if (!c || c->cap < n || known > c->depth || n == 0 || !trie->stacks)
        return 0;
    int common = common_frames(c, frames, n, known);
    c->whole = 0;
    if (c->image != image)
        c->nodes = 0; /* another image's */
    else if (c->nodes > common)
        c->nodes = common;
    if (common == n && c->nodes == n) { /* a prefix of the last stack */
        *leaf = c->leaf = c->node[n - 1];
        c->depth = n;
        c->whole = 1;
        return 1;
    }
    /* the frames past the common ones go into the cache as they are hashed; the cache stays
     * good for the common ones whatever happens */
    uint64_t h = common ? c->hash[common - 1] : HASH_SEED;
    c->depth = common;
    uint64_t *cf = c->frames, *ch = c->hash;
    int i = n - 1 - common;
    for (; i >= 1; i -= 2, common += 2) { /* two at a time: half the loop's own work */
        uint64_t a = frames[i], b = frames[i - 1];
        cf[common] = a;
        cf[common + 1] = b;
        ch[common] = h = prefix_hash(h, a);
        ch[common + 1] = h = prefix_hash(h, b);
    }
    if (i == 0) {
        cf[common] = frames[0];
        ch[common] = h = prefix_hash(h, frames[0]);
    }
    const memtap_trie_stack_t *e = memtap_trie_stack_get(trie, stack_key(h), (uint32_t)n);
    if (!e)
        return 0;
    uint32_t node = __atomic_load_n(&e->leaf, __ATOMIC_RELAXED);
    if (e->frames) {
        if (!same_frames(e->frames, cf, n))
            return 0;
    } else if (!is_path(trie, c, image, node, n)) {
        return 0;
    }
    c->depth = n;
    c->image = image;
    c->whole = 1;
    *leaf = c->leaf = node;
    return 1;
}

int memtap_stack_intern(memtap_trie_t *trie, uint32_t image, const uint64_t *frames, int n,
                        int known, int max_depth, memtap_node_emit_fn emit, uint32_t *leaf) {
    cache_t *c = thread_cache(n > max_depth ? n : max_depth);
    if (!c || known > c->depth || known > n)
        return -1; /* the known frames are not in the cache (or no cache for them): never so
                      when callers keep to memtap_stack_of_call's contract */
    int common = common_frames(c, frames, n, known);
    /* the trie from the deepest node the cache holds (another image's are not this one's) */
    int from = c->image != image ? 0 : common < c->nodes ? common : c->nodes;
    uint32_t node = from ? c->node[from - 1] : 0;
    uint64_t h = common ? c->hash[common - 1] : HASH_SEED;
    c->depth = common;
    c->nodes = from;
    c->whole = 0;
    for (int j = from; j < n; j++) { /* j counts from the outermost frame */
        /* the common frames may be unwritten in frames: the cache has them */
        uint64_t frame = j < common ? c->frames[j] : frames[n - 1 - j];
        int created;
        uint32_t parent = node;
        node = memtap_trie_intern(trie, parent, frame, &created);
        if (!node || (created && emit(node, parent, frame) < 0)) {
            c->depth = c->nodes = 0;
            return -1;
        }
        if (j >= common) {
            c->frames[j] = frame;
            c->hash[j] = h = prefix_hash(h, frame);
        }
        c->node[j] = node;
        c->nodes = j + 1;
    }
    if (n) /* (a table that cannot grow leaves the stack out: it is found in the trie) */
        memtap_trie_stack_put(trie, stack_key(h), (uint32_t)n, node, c->frames);
    c->depth = n;
    c->image = image;
    c->whole = 1;
    *leaf = c->leaf = node;
    return 0;
}
