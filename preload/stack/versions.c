/* Versions of native frame sequences (versions.h). A version is given once, to one pair
 * (the version of the frames outside, a frame), so by induction it names one sequence of
 * frames from the outermost; a pair found again in the thread's table gets its version
 * again, so the same stack gets the same version from walk to walk. A pair the table lost
 * (its slot taken by another) gets a new version: the same frames then have two names,
 * which costs a memo miss, never a wrong stack. */
#include "stack/versions.h"

#include <stddef.h>
#include <sys/mman.h>

#define TABLE_BITS 12

typedef struct {
    uint64_t outside, frame, version; /* version 0: an empty slot */
} pair_t;

typedef struct {
    int n;                               /* frames of the last walk versioned (0: none) */
    uint64_t last;                       /* the last version given: 64 bits never come round */
    uint64_t at[MEMTAP_VERSIONS_DEPTH];  /* the last walk's versions, by depth from outermost */
    pair_t table[1u << TABLE_BITS];
} versions_t;

static __thread versions_t *tls_versions __attribute__((tls_model("initial-exec")));
/* no table mapped any more: the thread exited, or mapping one failed (not tried again) */
static __thread int tls_no_table __attribute__((tls_model("initial-exec")));

/* The pair's set: two slots, the one used last first. Two ways, because a pair lost costs
 * more than itself: every frame inside it then gets a new version too, and those new pairs
 * take slots of others (a direct-mapped table of this size lost whole stacks that way). */
static inline pair_t *set_of(versions_t *v, uint64_t outside, uint64_t frame) {
    uint64_t h = (outside * 0x9e3779b97f4a7c15ull) ^ (frame * 0xc2b2ae3d27d4eb4full);
    return &v->table[(h >> (64 - TABLE_BITS)) & ~1ull];
}

/* The version of the pair (outside, frame): the one it has, or a new one. */
static inline uint64_t version_of(versions_t *v, uint64_t outside, uint64_t frame) {
    pair_t *s = set_of(v, outside, frame);
    if (s[0].outside == outside && s[0].frame == frame && s[0].version)
        return s[0].version;
    pair_t found = s[1];
    if (found.outside != outside || found.frame != frame || !found.version)
        found = (pair_t){outside, frame, ++v->last};
    s[1] = s[0];
    s[0] = found;
    return found.version;
}

uint64_t memtap_versions_of_walk(const uint64_t *frames, int n, int same_outer) {
    versions_t *v = tls_versions;
    if (__builtin_expect(!v, 0)) {
        if (tls_no_table)
            return 0;
        void *p = mmap(NULL, sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            tls_no_table = 1;
            return 0;
        }
        tls_versions = v = p;
    }
    if (n <= 0 || n > MEMTAP_VERSIONS_DEPTH) {
        v->n = 0;
        return 0;
    }
    if (same_outer > v->n) /* the previous walk was not versioned (the caller wrote them) */
        same_outer = 0;
    uint64_t outside = same_outer ? v->at[same_outer - 1] : 0;
    for (int d = same_outer; d < n; d++) {
        uint64_t frame = frames[n - 1 - d];
        outside = v->at[d] = version_of(v, outside, frame);
    }
    v->n = n;
    return outside;
}

int memtap_versions_vouched(int same_outer) {
    const versions_t *v = tls_versions;
    return v && same_outer <= v->n;
}

void memtap_versions_forget(void) {
    versions_t *v = tls_versions;
    if (v)
        v->n = 0;
}

void memtap_versions_thread_exit(void) {
    versions_t *v = tls_versions;
    tls_versions = NULL;
    tls_no_table = 1;
    if (v)
        munmap(v, sizeof *v);
}
