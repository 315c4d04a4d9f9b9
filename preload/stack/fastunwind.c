/* A fast x86-64 unwinder for the allocation hooks: the CFA and register rules at each
 * return address are read once from the DWARF call-frame information (.eh_frame, found
 * with libgcc's _Unwind_Find_FDE) and kept in a global table keyed by the address; a
 * stack walk is then a table lookup and two loads per frame. Anything it does not handle
 * (no FDE, a signal frame, a CFA or register given by a DWARF expression, a return
 * address not at CFA-8) makes it give up, and the caller unwinds with libunwind instead.
 * The result is the same list of return addresses unw_backtrace gives (tested). */
#include "stack/fastunwind.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "memtap/hashtab.h"
#include "stack/cfi.h"
#include "stack/gate.h"

__thread memtap_entry_regs_t memtap_entry_regs __attribute__((tls_model("initial-exec")));

#define TABLE_BITS 16
#define TABLE_SIZE (1u << TABLE_BITS)
#define MAX_PROBES 8
/* libgcc's FDE search may take the loader's lock: no fork meanwhile (gate.h). The walk
 * itself takes no lock and needs no gate. */
__attribute__((noinline, cold)) static int rule_from_cfi(uint64_t ip, memtap_rule_t *r) {
    memtap_gate_enter();
    int rc = memtap_cfi_rule(ip, r);
    memtap_gate_leave();
    return rc;
}

/* The rules by return address: a fixed table (memtap/hashtab.h) that threads fill as they
 * meet new addresses, without a lock. A slot's ip is set once (compare-and-swap) and never
 * changed; its rule is 0 until published. A neighbourhood crowded past MAX_PROBES slots
 * leaves a rule unkept: it is computed again next time. */
typedef struct {
    uint64_t ip;   /* 0: free */
    uint64_t rule; /* 0 until published */
} rule_slot_t;
typedef MEMTAP_HASHTAB(rule_slot_t) rule_table_t;
static rule_slot_t table[TABLE_SIZE];

#define HOME(ip) (((ip)*0x9e3779b97f4a7c15ull) >> (64 - TABLE_BITS))
#define MEMTAP_HT_NAME rules
#define MEMTAP_HT_TABLE rule_table_t
#define MEMTAP_HT_SLOT rule_slot_t
#define MEMTAP_HT_KEY uint64_t
#define MEMTAP_HT_HASH(ip) HOME(ip)
#define MEMTAP_HT_EMPTY(s) (__atomic_load_n(&(s)->ip, __ATOMIC_ACQUIRE) == 0)
#define MEMTAP_HT_MATCH(s, k) (__atomic_load_n(&(s)->ip, __ATOMIC_ACQUIRE) == (k))
#define MEMTAP_HT_MAX_PROBES MAX_PROBES
#define MEMTAP_HT_MATCH_FIRST /* ip 0 is never looked up: a walk ends there */
#include "memtap/hashtab.h"

static int lookup(uint64_t ip, memtap_rule_t *r) {
    const rule_slot_t *s = rules_find_in(table, TABLE_SIZE - 1, ip);
    if (!s)
        return 0;
    uint64_t w = __atomic_load_n(&s->rule, __ATOMIC_ACQUIRE);
    memcpy(r, &w, sizeof w);
    return w != 0;
}

__attribute__((noinline, cold)) static void publish(uint64_t ip, const memtap_rule_t *r) {
    uint64_t w;
    memcpy(&w, r, sizeof w);
    size_t i = HOME(ip);
    for (int k = 0; k < MAX_PROBES; k++, i = (i + 1) & (TABLE_SIZE - 1)) {
        uint64_t expected = 0;
        if (__atomic_compare_exchange_n(&table[i].ip, &expected, ip, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE) ||
            expected == ip) {
            __atomic_store_n(&table[i].rule, w, __ATOMIC_RELEASE);
            return;
        }
    }
}

/* --- the walk ---------------------------------------------------------------------- */

#define MAX_FRAME_BYTES (64ull << 20) /* no frame this large: the walk went astray */

typedef struct {
    uint64_t ip, rsp, rbp;
} regs_t;

/* One frame outwards, noting where the caller's RBP was loaded from (0: nowhere) and
 * whether the step read this frame's RBP (its CFA is RBP-based, or the caller inherits it).
 * Returns 1, 0 at the outermost frame, -1 when libunwind must do it. */
static inline int step_noting(regs_t *g, uint64_t *rbp_slot, uint32_t *rbp_used) {
    memtap_rule_t r;
    *rbp_used = 1;
    if (__builtin_expect(!lookup(g->ip, &r), 0)) {
        if (rule_from_cfi(g->ip, &r) < 0)
            return -1;
        publish(g->ip, &r);
    }
    *rbp_slot = 0;
    if (r.flags & RULE_END)
        return 0;
    uint64_t cfa = ((r.flags & RULE_CFA_RBP) ? g->rbp : g->rsp) + r.cfa_off;
    if (cfa - g->rsp - 1 >= MAX_FRAME_BYTES) /* not above the frame below it */
        return -1;
    *rbp_used = (r.flags & RULE_CFA_RBP) || !(r.flags & RULE_RBP_SAVED);
    if (r.flags & RULE_RBP_SAVED) {
        *rbp_slot = cfa + (uint64_t)(int64_t)r.rbp_off;
        g->rbp = *(const uint64_t *)(uintptr_t)*rbp_slot;
    }
    g->ip = *(const uint64_t *)(uintptr_t)(cfa - 8);
    g->rsp = cfa;
    return g->ip != 0;
}

static inline int step(regs_t *g) {
    uint64_t slot;
    uint32_t used;
    return step_noting(g, &slot, &used);
}

static int walk_plain(regs_t *g, uint64_t *out, int max) {
    int n = 0, rc = 1;
    do {
        out[n++] = g->ip;
    } while (n < max && (rc = step(g)) > 0);
    return rc < 0 ? -1 : n;
}

/* --- the thread's last stack ----------------------------------------------------------
 *
 * Consecutive allocations of a thread share most of their outer frames. The walk of the
 * previous allocation is kept (registers at each frame, and the rule that stepped out of
 * it); a new walk goes frame by frame until it reaches a frame whose registers are those
 * of a kept frame, then checks the kept frames outwards with only the loads the walk would
 * make (the return address slot, the saved RBP slot) instead of looking rules up. Equal
 * registers and equal loaded values make the walk from there identical, so the result is
 * exact; the first difference resumes an ordinary walk from the last frame checked.
 * "Equal registers" leaves RBP out where the step out of the frame does not read it (its
 * CFA is RSP-based and the caller's RBP is restored from a slot, which is checked): a
 * program built without frame pointers keeps data in RBP that changes between calls.
 * The check first runs over a flat list of the loads, four at a time with no branch
 * each; only when it finds a difference does it go frame by frame to see where. */

typedef struct {
    uint64_t ip, rsp, rbp;
    uint64_t rbp_slot; /* where the step out of this frame loaded the caller's RBP (0: none) */
    uint32_t rbp_used; /* 0: that step did not read RBP, so RBP need not match (1: unknown) */
} kept_t;

#define KEEP_CAP 1100 /* frames of one walk: MEMTAP_MAX_DEPTH and some */

typedef struct {
    int n;            /* kept[0] outermost .. kept[n-1] innermost */
    int ended;        /* the kept walk reached the outermost frame */
    int returned_all; /* the last result held every kept frame (it was not cut at max) */
    kept_t kept[KEEP_CAP];
    kept_t fresh[KEEP_CAP]; /* the current walk's frames, innermost first */
    /* The loads still_steps makes, flat: stepping out of kept[i] (i >= 1) loads the slots
     * check_slot[e] for e in [check_first[i], check_first[i + 1]) and finds check_value[e]
     * in each when nothing changed. Checked four at a time without a branch each. Listed
     * when first needed: frames [1, checks_upto) are. */
    int checks_upto;
    int check_first[KEEP_CAP + 1];
    const uint64_t *check_slot[2 * KEEP_CAP];
    uint64_t check_value[2 * KEEP_CAP];
    uint64_t ip_inward[KEEP_CAP]; /* kept[i].ip at [KEEP_CAP - 1 - i]: kept[m..j] in out order */
} last_t;

static __thread last_t *tls_last __attribute__((tls_model("initial-exec")));

static last_t *last_walk(void) {
    last_t *l = tls_last;
    if (!l) {
        void *p = mmap(NULL, sizeof *l, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        l = p;
        tls_last = l;
    }
    return l;
}

void memtap_fast_unwind_thread_exit(void) {
    last_t *l = tls_last;
    tls_last = NULL;
    if (l)
        munmap(l, sizeof *l);
}

/* Whether the walk steps from kept frame `inner` to `outer` now as it did then: the same
 * return address in the slot it loads, and the same saved RBP where it loaded one. */
static inline int still_steps(const kept_t *inner, const kept_t *outer) {
    return *(const uint64_t *)(uintptr_t)(outer->rsp - 8) == outer->ip &&
           (!inner->rbp_slot || *(const uint64_t *)(uintptr_t)inner->rbp_slot == outer->rbp);
}

/* Lists the checks of kept[checks_upto..to). */
static void list_checks(last_t *l, int to) {
    int from = l->checks_upto, e = l->check_first[from];
    for (int i = from; i < to; i++) {
        const kept_t *inner = &l->kept[i], *outer = &l->kept[i - 1];
        l->check_first[i] = e;
        l->check_slot[e] = (const uint64_t *)(uintptr_t)(outer->rsp - 8);
        l->check_value[e++] = outer->ip;
        if (inner->rbp_slot) {
            l->check_slot[e] = (const uint64_t *)(uintptr_t)inner->rbp_slot;
            l->check_value[e++] = outer->rbp;
        }
    }
    l->check_first[to] = e;
    l->checks_upto = to;
}

/* Whether every listed load in [lo, hi) finds what it found: still_steps for a run of
 * frames at once. It may load up to three slots past the first difference: slots of the
 * kept walk above the matched frame, on the stack the walk runs on, which the step-by-step
 * check loads whenever the frames inside them match. */
static inline int all_still(const last_t *l, int lo, int hi) {
    const uint64_t *const *slot = l->check_slot;
    const uint64_t *value = l->check_value;
    int e = lo;
    for (; e + 4 <= hi; e += 4)
        if ((*slot[e] ^ value[e]) | (*slot[e + 1] ^ value[e + 1]) | (*slot[e + 2] ^ value[e + 2]) |
            (*slot[e + 3] ^ value[e + 3]))
            return 0;
    uint64_t diff = 0;
    for (; e < hi; e++)
        diff |= *slot[e] ^ value[e];
    return diff == 0;
}

/* The walk in fresh[0..nf) (innermost first) becomes the kept one, returned whole. */
static void keep_whole_walk(last_t *l, int nf, int ended) {
    for (int i = 0; i < nf; i++) {
        l->kept[nf - 1 - i] = l->fresh[i];
        l->ip_inward[KEEP_CAP - nf + i] = l->fresh[i].ip;
    }
    l->n = nf;
    l->check_first[0] = l->check_first[1] = 0;
    l->checks_upto = 1;
    l->ended = ended;
    l->returned_all = 1;
}

void memtap_fast_unwind_forget(void) {
    if (tls_last)
        tls_last->n = 0;
}

/* The parts of a walk below are inlined into memtap_fast_unwind, the one function whose
 * frame the walk starts from: split for reading, compiled as one. */
#define WALK_PART static inline __attribute__((always_inline))

/* From g, the frame of memtap_fast_unwind, to the program's innermost frame: where the hook
 * noted the program called it, or else stepping out through memtap's own frames ([skip_lo,
 * skip_hi)). Returns 1, 0 when the stack ended first, -1 when libunwind must do it. */
WALK_PART int program_frame(regs_t *g, uint64_t skip_lo, uint64_t skip_hi) {
    int rc;
    const memtap_entry_regs_t *e = &memtap_entry_regs;
    if (e->rsp > g->rsp && e->rsp - g->rsp < (1u << 20) &&
        *(const uint64_t *)(uintptr_t)(e->rsp - 8) == e->ip) {
        /* the hook noted where the program called it (its return address still in place) */
        g->ip = e->ip;
        g->rsp = e->rsp;
        g->rbp = e->rbp;
    } else if ((rc = step(g)) <= 0) {
        return rc < 0 ? -1 : 0;
    }
    while (g->ip >= skip_lo && g->ip < skip_hi) { /* memtap's own frames */
        if ((rc = step(g)) <= 0)
            return rc < 0 ? -1 : 0;
    }
    return 1;
}

/* The kept walk changed beyond kept[j], or stopped short: walks on from kept[j] into out
 * (n written) and keeps this whole walk: the nf fresh frames, the checked kept[m..j], the
 * new outer ones. Returns the frames in out, or -1 when libunwind must do it. */
WALK_PART int walk_on(last_t *l, uint64_t *out, int n, int max, int nf, int m, int j) {
    const kept_t *k = l->kept;
    for (int i = m; i >= j; i--)
        l->fresh[nf++] = k[i];
    regs_t g = {k[j].ip, k[j].rsp, k[j].rbp};
    int ended = 0;
    while (n < max) {
        int rc = step_noting(&g, &l->fresh[nf - 1].rbp_slot, &l->fresh[nf - 1].rbp_used);
        if (rc < 0) {
            l->n = 0;
            return -1;
        }
        if (rc == 0) {
            ended = 1;
            break;
        }
        out[n++] = g.ip;
        l->fresh[nf++] = (kept_t){g.ip, g.rsp, g.rbp, 0, 1};
    }
    keep_whole_walk(l, nf, ended);
    return n;
}

/* All of the kept walk from kept[m] held (j == 0), or out is full (then kept[0..j) is
 * unchecked, and is checked again before any use): the kept walk becomes kept[0..m] and the
 * nf fresh frames inside it; its outer end, and so whether it reached the outermost frame
 * (l->ended), stays. */
WALK_PART void keep_inner_part(last_t *l, int nf, int m, int j, int *same_outer) {
    if (j == 0 && l->returned_all)
        *same_outer = m + 1; /* the previous result ended with the same m + 1 frames */
    l->returned_all = j == 0;
    if (m + 1 + nf > KEEP_CAP) {
        l->n = 0;
        return;
    }
    for (int i = 0; i < nf; i++) {
        l->kept[m + nf - i] = l->fresh[i];
        l->ip_inward[KEEP_CAP - 1 - m - nf + i] = l->fresh[i].ip;
    }
    l->n = m + 1 + nf;
    if (l->checks_upto > m + 1)
        l->checks_upto = m + 1;
}

__attribute__((noinline)) int memtap_fast_unwind(uint64_t *out, int max, uint64_t skip_lo,
                                                 uint64_t skip_hi, int *same_outer, int lazy) {
    regs_t g;
    __asm__ volatile("lea 0f(%%rip), %0\n\t"
                     "mov %%rsp, %1\n\t"
                     "mov %%rbp, %2\n"
                     "0:"
                     : "=r"(g.ip), "=r"(g.rsp), "=r"(g.rbp));
    /* g.ip is this function's own code, not a return address: the rule at the label is
     * the one looked up for the "return address" just after it */
    g.ip += 1;
    *same_outer = 0;
    int rc = program_frame(&g, skip_lo, skip_hi);
    if (rc <= 0)
        return rc;
    last_t *l = max < KEEP_CAP ? last_walk() : NULL;
    if (!l)
        return walk_plain(&g, out, max);

    int nf = 0, m = l->n - 1, ended = 0;
    for (;;) {
        /* g: the frame to record next. Is it a kept one? (rsp only grows outwards) */
        while (m >= 0 && l->kept[m].rsp < g.rsp)
            m--;
        if (m >= 0 && l->kept[m].rsp == g.rsp && l->kept[m].ip == g.ip &&
            (l->kept[m].rbp == g.rbp || !l->kept[m].rbp_used))
            break;
        kept_t *f = &l->fresh[nf];
        f->ip = g.ip;
        f->rsp = g.rsp;
        f->rbp = g.rbp;
        out[nf++] = g.ip;
        if (nf == max) {
            f->rbp_slot = 0;
            f->rbp_used = 1;
            m = -1;
            break;
        }
        rc = step_noting(&g, &f->rbp_slot, &f->rbp_used);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            ended = 1;
            m = -1;
            break;
        }
    }
    if (m < 0) { /* no kept frame met: the fresh walk is the new one kept */
        keep_whole_walk(l, nf, ended);
        return nf;
    }
    /* check the kept frames from m outwards */
    int n = nf, j = m;
    const kept_t *k = l->kept;
    int stop = j - (max - n - 1) > 0 ? j - (max - n - 1) : 0; /* out has room down to here */
    if (j > stop && l->checks_upto <= j)
        list_checks(l, j + 1);
    int unchanged = j == stop || all_still(l, l->check_first[stop + 1], l->check_first[j + 1]);
    uint64_t *o = out + n;
    if (lazy && unchanged && stop == 0 && l->returned_all && (l->ended || n + 1 + j >= max)) {
        /* the result ends with the m + 1 frames the previous one ended with (same_outer
         * below), and the caller has them: not written */
        o += 1 + j;
        j = 0;
    } else if (unchanged) {
        *o++ = k[j].ip;
        const uint64_t *ip = &l->ip_inward[KEEP_CAP - j]; /* kept[j - 1] on */
        int count = j - stop, i = 0;
        for (; i + 4 <= count; i += 4) /* (GCC -O2 does not vectorise a plain copy) */
            __builtin_memcpy(o + i, ip + i, 4 * sizeof *o);
        for (; i < count; i++)
            o[i] = ip[i];
        o += count;
        j = stop;
    } else { /* something changed: find where */
        *o++ = k[j].ip;
        while (j > stop && still_steps(&k[j], &k[j - 1])) {
            j--;
            *o++ = k[j].ip;
        }
    }
    n = (int)(o - out);
    if (n < max && !(j == 0 && l->ended))
        return walk_on(l, out, n, max, nf, m, j);
    keep_inner_part(l, nf, m, j, same_outer);
    return n;
}
