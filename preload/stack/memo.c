/* The thread's memo of whole stacks (memo.h): a direct-mapped table of key hashes whose
 * keys lie in an arena of words, filled in order and emptied with the table when full. */
#include "stack/memo.h"

#include <string.h>
#include <sys/mman.h>

#define SLOT_BITS 10
#define ARENA_WORDS (32 * 1024)

typedef struct {
    uint64_t hash;
    uint32_t at, n; /* the key: arena[at .. at + n) */
    uint32_t image, leaf;
    uint32_t generation; /* the memo's, when the slot was filled: older slots are empty */
} slot_t;

typedef struct {
    uint32_t used, generation;
    uint32_t epoch; /* the code epoch of every slot: another empties the memo (so a 32-bit
                       epoch coming round finds nothing stale) */
    slot_t slot[1u << SLOT_BITS];
    uint64_t arena[ARENA_WORDS];
} memo_t;

static __thread memo_t *tls_memo __attribute__((tls_model("initial-exec")));
/* no memo mapped any more: the thread exited (a destructor allocating after it would leak
 * one), or mapping one failed (not tried at every miss again) */
static __thread int tls_no_memo __attribute__((tls_model("initial-exec")));

/* The slots of another code epoch than m's last are empty from now on. */
static inline void see_epoch(memo_t *m, uint32_t epoch) {
    if (__builtin_expect(m->epoch != epoch, 0)) {
        m->epoch = epoch;
        m->generation++;
        m->used = 0;
    }
}

static inline slot_t *slot_of(memo_t *m, uint64_t h) {
    return &m->slot[h >> (64 - SLOT_BITS)];
}

uint32_t memtap_memo_find(const uint64_t *key, int n, uint64_t h, uint32_t image,
                          uint32_t epoch) {
    memo_t *m = tls_memo;
    if (!m)
        return 0;
    see_epoch(m, epoch);
    const slot_t *s = slot_of(m, h);
    if (s->hash != h || s->n != (uint32_t)n || s->image != image ||
        s->generation != m->generation)
        return 0;
    const uint64_t *k = &m->arena[s->at];
    uint64_t diff = 0;
    int i = 0;
    for (; i + 2 <= n; i += 2) /* two words a step: a frame's code and instruction */
        diff |= (k[i] ^ key[i]) | (k[i + 1] ^ key[i + 1]);
    if (i < n)
        diff |= k[i] ^ key[i];
    return diff ? 0 : s->leaf;
}

void memtap_memo_store(const uint64_t *key, int n, uint64_t h, uint32_t image, uint32_t epoch,
                       uint32_t leaf) {
    memo_t *m = tls_memo;
    if (!m) {
        if (tls_no_memo)
            return;
        void *p = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            tls_no_memo = 1;
            return;
        }
        tls_memo = m = p;
        m->generation = 1; /* the zeroed slots are of generation 0: empty */
        m->epoch = epoch;
    }
    see_epoch(m, epoch);
    if (n <= 0 || n > MEMTAP_MEMO_KEY_MAX || !leaf)
        return;
    if (m->used + (uint32_t)n > ARENA_WORDS) { /* full: every key goes */
        m->used = 0;
        m->generation++;
    }
    slot_t *s = slot_of(m, h);
    memcpy(&m->arena[m->used], key, (size_t)n * sizeof *key);
    *s = (slot_t){h, m->used, (uint32_t)n, image, leaf, m->generation};
    m->used += (uint32_t)n;
}

void memtap_memo_thread_exit(void) {
    memo_t *m = tls_memo;
    tls_memo = NULL;
    tls_no_memo = 1;
    if (m)
        munmap(m, sizeof *m);
}
