/* A fast x86-64 unwinder for the allocation hooks: the CFA and register rules at each
 * return address are read once from the DWARF call-frame information and kept in a global
 * table keyed by the address (rules.c); a stack walk is then a table lookup and two loads
 * per frame. Anything it does not handle (no FDE, a signal frame, a CFA or register given
 * by a DWARF expression, a return address not at CFA-8) makes it give up, and the caller
 * unwinds with libunwind instead. The result is the same list of return addresses
 * unw_backtrace gives (tested). */
#include "unwind/fastunwind.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "unwind/rules.h"

__thread memtap_entry_regs_t memtap_entry_regs __attribute__((tls_model("initial-exec")));

typedef memtap_regs_t regs_t;

static inline int step(regs_t *g) { return memtap_rule_step(g, memtap_rule_of(g->ip)); }

static int walk_plain(regs_t *g, uint64_t *out, int max) {
    int n = 0, rc = 1;
    do {
        out[n++] = g->ip;
    } while (n < max && (rc = step(g)) > 0);
    if (rc == -1)
        return -1;
    return out[n - 1] ? n : n - 1; /* a return address of 0 is no frame */
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
 * each; only when it finds a difference does it go frame by frame to see where.
 *
 * A walk's frames go into arrays (one per register and one for the rules) from a fixed
 * index downwards, innermost first, so that they lie outermost first when it ends: a walk
 * that met no kept frame becomes the kept one by swapping two pointers, and one that met
 * kept[m] copies the smaller part, its new inner frames after kept[m] or the kept frames
 * [0, m] under its own. A fresh frame costs four stores beside its rule lookup and step.
 *
 * Looking for a kept frame (a compare or two a frame) pays where walks take many frames from
 * the kept one; a thread whose allocations each take a new path takes almost none, so a
 * thread looks in every 8th walk only while those walks take less than a quarter. */

#define KEEP_CAP 1100 /* frames of one walk: MEMTAP_MAX_DEPTH and some */
#define SPAN (2 * KEEP_CAP + 2)
#define FRESH_TOP KEEP_CAP /* where a fresh walk puts its innermost frame */
/* Walks that take fewer than a quarter of their frames from the kept one (where looking
 * for it costs more than it saves) look for it less */
#define REUSE_TIMES_8_MIN 2

/* A walk's frames: four arrays of SPAN words in one, so that one pointer reaches a frame's
 * four words (at p, p + RSP, p + RBP, p + RULE). */
enum { IP = 0, RSP = SPAN, RBP = 2 * SPAN, RULE = 3 * SPAN };
typedef struct {
    uint64_t v[4 * SPAN]; /* RULE: the rule word that steps out of the frame (0: none) */
} frames_t;

typedef struct {
    frames_t *kept, *spare;
    int lo;           /* kept frames at kept->v[lo + i], i = 0 (outermost) .. n - 1 */
    int n;            /* (kept->v[RSP + lo - 1] is a bound above every stack address) */
    int ended;        /* the kept walk reached the outermost frame */
    int returned_all; /* the last result held every kept frame (it was not cut at max) */
    unsigned generation; /* memtap_rules_generation the kept rules are from */
    /* Whether walks look for the kept walk (meet); every 8th walk does, and adds to moving
     * sums (each keeps 7/8 of the last) of the frames it took from the kept walk and of all
     * its frames, which decide meet; the walks made */
    int meet;
    unsigned reused, frames, walks;
    /* The loads still_steps makes, flat: stepping out of kept frame i (i >= 1) loads the
     * slots check_slot[e] for e in [check_first[i], check_first[i + 1]) and finds
     * check_value[e] in each when nothing changed. Checked four at a time without a branch
     * each. Listed when first needed: frames [1, checks_upto) are. */
    int checks_upto;
    int check_first[KEEP_CAP + 1];
    const uint64_t *check_slot[2 * KEEP_CAP];
    uint64_t check_value[2 * KEEP_CAP];
    frames_t bufs[2];
} last_t;

static __thread last_t *tls_last __attribute__((tls_model("initial-exec")));

/* The kept frames start at lo: the bound below them. */
static void set_kept(last_t *l, frames_t *k, int lo) {
    l->kept = k;
    l->lo = lo;
    k->v[RSP + lo - 1] = UINT64_MAX;
}

static last_t *last_walk(void) {
    last_t *l = tls_last;
    if (!l) {
        void *p = mmap(NULL, sizeof *l, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        l = p;
        l->spare = &l->bufs[1];
        l->meet = 1;
        set_kept(l, &l->bufs[0], FRESH_TOP);
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

void memtap_fast_unwind_fill_outer(uint64_t *out, int n, int count) {
    /* the walk that left them kept them: kept frames [lo, lo + count), outermost first */
    const last_t *l = tls_last;
    const uint64_t *k = &l->kept->v[IP + l->lo];
    for (int i = 0; i < count; i++)
        out[n - 1 - i] = k[i];
}

void memtap_fast_unwind_forget(void) {
    if (tls_last)
        tls_last->n = 0;
}

/* Copies frames [from, from + count) of a to [to, to + count) of b (a few, mostly: no
 * call to memcpy). */
static inline void copy_frames(frames_t *b, int to, const frames_t *a, int from, int count) {
    uint64_t *d = &b->v[to];
    const uint64_t *s = &a->v[from];
    for (int i = 0; i < count; i++) {
        d[i + IP] = s[i + IP];
        d[i + RSP] = s[i + RSP];
        d[i + RBP] = s[i + RBP];
        d[i + RULE] = s[i + RULE];
    }
}

/* The spare frames [lo, FRESH_TOP] (a whole walk, outermost first) become the kept ones. */
static void keep_spare(last_t *l, int lo, int ended) {
    frames_t *f = l->spare;
    l->spare = l->kept;
    set_kept(l, f, lo);
    l->n = FRESH_TOP + 1 - lo;
    l->check_first[0] = l->check_first[1] = 0;
    l->checks_upto = 1;
    l->ended = ended;
    l->returned_all = 1;
}

/* Where the step out of kept frame p (with rule p[RULE]) loaded the caller's RBP, or NULL. */
static inline const uint64_t *rbp_slot(const uint64_t *p) {
    return MEMTAP_W_FLAG(p[RULE], MEMTAP_W_RBP_SAVED)
               ? (const uint64_t *)(uintptr_t)(p[RSP - 1] + MEMTAP_W_RBP_OFF(p[RULE]))
               : NULL;
}

/* Whether the walk steps from kept frame p to the one outside it (p - 1) now as it did
 * then: the same return address in the slot it loads, and the same saved RBP where it
 * loaded one. */
static inline int still_steps(const uint64_t *p) {
    const uint64_t *slot = rbp_slot(p);
    return *(const uint64_t *)(uintptr_t)(p[RSP - 1] - 8) == p[IP - 1] &&
           (!slot || *slot == p[RBP - 1]);
}

/* Lists the checks of kept frames [checks_upto, to). */
static void list_checks(last_t *l, int to) {
    int from = l->checks_upto, e = l->check_first[from];
    for (int i = from; i < to; i++) {
        const uint64_t *p = &l->kept->v[l->lo + i]; /* inner p, outer p - 1 */
        const uint64_t *slot = rbp_slot(p);
        l->check_first[i] = e;
        l->check_slot[e] = (const uint64_t *)(uintptr_t)(p[RSP - 1] - 8);
        l->check_value[e++] = p[IP - 1];
        if (slot) {
            l->check_slot[e] = slot;
            l->check_value[e++] = p[RBP - 1];
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
        return rc == -1 ? -1 : 0;
    }
    while (g->ip >= skip_lo && g->ip < skip_hi) { /* memtap's own frames */
        if ((rc = step(g)) <= 0)
            return rc == -1 ? -1 : 0;
    }
    return 1;
}

/* Fresh frames from g into the spare arrays at FRESH_TOP, FRESH_TOP - 1, ... and into out,
 * until one is a kept frame (*met: its index in the kept arrays; not written; only when
 * meet), the stack ends (*ended) or out holds max. Returns the frames written, or -1 when
 * libunwind must do it. */
WALK_PART int walk_fresh(last_t *l, regs_t *g, uint64_t *out, int max, int meet, int *met,
                         int *ended) {
    const uint64_t *k = &l->kept->v[l->lo + l->n - 1]; /* the innermost kept frame */
    uint64_t *f = &l->spare->v[FRESH_TOP], *o = out, *end = out + max;
    int rc;
    for (;;) {
        /* is g a kept frame? (RSP only grows outwards; the bound stops the search) */
        while (meet && k[RSP] < g->rsp)
            k--;
        if (meet && k[RSP] == g->rsp && k[IP] == g->ip &&
            (k[RBP] == g->rbp || !MEMTAP_W_RBP_USED(k[RULE]))) {
            *met = (int)(k - l->kept->v);
            *ended = 0;
            return (int)(o - out);
        }
        f[IP] = g->ip;
        f[RSP] = g->rsp;
        f[RBP] = g->rbp;
        *o++ = g->ip;
        if (o == end) {
            f[RULE] = 0;
            rc = 0;
            if (!g->ip) { /* no frame: the one before was the outermost */
                o--;
                rc = 1;
            }
            break;
        }
        uint64_t w = memtap_rule_of(g->ip);
        f[RULE] = w;
        f--;
        rc = memtap_rule_step(g, w);
        if (__builtin_expect(rc <= 0, 0)) {
            if (rc == -1)
                return -1;
            if (rc == -2) /* that was no frame */
                o--;
            rc = 1;
            break;
        }
    }
    *met = -1;
    *ended = rc;
    return (int)(o - out);
}

/* The kept walk changed outside kept frame j, or stopped short: walks on from there into
 * out (n written) and keeps this whole walk: the nf fresh frames, kept frames [j, m], the
 * new outer ones. Returns the frames in out, or -1 when libunwind must do it. */
WALK_PART int walk_on(last_t *l, uint64_t *out, int n, int max, int nf, int m, int j) {
    int at = FRESH_TOP - nf - (m - j); /* where kept frame j goes */
    copy_frames(l->spare, at, l->kept, j, m - j + 1);
    uint64_t *f = &l->spare->v[at];
    regs_t g = {f[IP], f[RSP], f[RBP]};
    int ended = 0;
    while (n < max) {
        uint64_t w = memtap_rule_of(g.ip);
        f[RULE] = w;
        int rc = memtap_rule_step(&g, w);
        if (rc == -1) {
            l->n = 0;
            return -1;
        }
        if (rc <= 0) {
            ended = 1;
            break;
        }
        out[n++] = g.ip;
        f--;
        f[IP] = g.ip;
        f[RSP] = g.rsp;
        f[RBP] = g.rbp;
        f[RULE] = 0;
    }
    if (!f[IP]) { /* a return address of 0 is no frame: the one before was the outermost */
        n--;
        f++;
        ended = 1;
    }
    keep_spare(l, (int)(f - l->spare->v), ended);
    return n;
}

/* Every kept frame from m out to j held: to j == lo (all of them), or to where out is full
 * (then kept frames [lo, j) are unchecked, and are checked again before any use). The kept
 * walk becomes kept frames [lo, m] and the nf fresh frames inside them; its outer end, and
 * so whether it reached the outermost frame (l->ended), stays. */
WALK_PART void keep_inner_part(last_t *l, int nf, int m, int j, int *same_outer) {
    int outer = m + 1 - l->lo; /* kept frames that stay */
    if (j == l->lo && l->returned_all)
        *same_outer = outer; /* the previous result ended with the same frames */
    l->returned_all = j == l->lo;
    if (outer + nf > KEEP_CAP) {
        l->n = 0;
        return;
    }
    if (nf <= outer && m + nf < SPAN) { /* the fresh frames go after kept frame m */
        copy_frames(l->kept, m + 1, l->spare, FRESH_TOP + 1 - nf, nf);
    } else { /* fewer kept ones, or no room after them: they go under the fresh ones */
        frames_t *f = l->spare;
        copy_frames(f, FRESH_TOP + 1 - nf - outer, l->kept, l->lo, outer);
        l->spare = l->kept;
        set_kept(l, f, FRESH_TOP + 1 - nf - outer);
    }
    l->n = outer + nf;
    if (l->checks_upto > outer)
        l->checks_upto = outer;
}

/* Out gets the kept frames from m outwards as far as they still hold, and at most down to
 * stop; returns where the check ended (the last frame that held). */
WALK_PART int check_kept(last_t *l, uint64_t **o, int m, int stop, int lazy, int n, int max) {
    const uint64_t *k = l->kept->v;
    int lo = l->lo, j = m - lo, s = stop - lo; /* relative indices */
    int unchanged = j == s;
    if (!unchanged && l->checks_upto <= j) {
        /* not listed yet: a walk that met a kept frame by chance differs at once, so the
         * first two frames are checked one by one before the list is made */
        int a = m;
        while (a > stop && a > m - 2 && still_steps(&k[a]))
            a--;
        unchanged = a == stop;
        if (a == m - 2 && a > stop)
            list_checks(l, j + 1);
    }
    if (!unchanged && l->checks_upto > j)
        unchanged = all_still(l, l->check_first[s + 1], l->check_first[j + 1]);
    if (lazy && unchanged && s == 0 && l->returned_all && (l->ended || n + 1 + j >= max)) {
        /* the result ends with the frames the previous one ended with (same_outer), and the
         * caller has them: not written */
        *o += 1 + j;
        return lo;
    }
    uint64_t *p = *o;
    *p++ = k[m];
    if (unchanged) {
        for (int a = m - 1; a >= stop; a--)
            *p++ = k[a];
        *o = p;
        return stop;
    }
    int a = m; /* something changed: find where */
    while (a > stop && still_steps(&k[a]))
        *p++ = k[--a];
    *o = p;
    return a;
}

/* A sampled walk took `reused` of its n frames from the kept one. */
static void note_reuse(last_t *l, int reused, int n) {
    l->reused += (unsigned)reused - l->reused / 8;
    l->frames += (unsigned)n - l->frames / 8;
    l->meet = 8 * l->reused >= REUSE_TIMES_8_MIN * l->frames;
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
    unsigned generation = __atomic_load_n(&memtap_rules_generation.value, __ATOMIC_ACQUIRE);
    if (__builtin_expect(l->generation != generation, 0)) { /* rules forgotten: walks too */
        l->n = 0;
        l->generation = generation;
    }

    /* Meeting the kept walk costs a compare or two a frame: a thread whose walks take next to
     * nothing from it (an allocation on a new path each time) looks for it in one walk of 8 */
    int m, ended, sample = (++l->walks & 7) == 0 && l->n, meet = l->meet || sample;
    int nf = meet ? walk_fresh(l, &g, out, max, 1, &m, &ended)
                  : walk_fresh(l, &g, out, max, 0, &m, &ended);
    if (nf < 0) {
        l->n = 0;
        return -1;
    }
    if (m < 0) { /* no kept frame met: the fresh walk is the new one kept */
        if (nf)
            keep_spare(l, FRESH_TOP + 1 - nf, ended);
        else
            l->n = 0;
        if (sample) /* (with nothing kept, there was nothing to take: not sampled) */
            note_reuse(l, 0, nf);
        return nf;
    }
    /* check the kept frames from m outwards, as far as out has room */
    int stop = m - (max - nf - 1) > l->lo ? m - (max - nf - 1) : l->lo;
    uint64_t *o = out + nf;
    int j = check_kept(l, &o, m, stop, lazy, nf, max);
    int n = (int)(o - out);
    int taken = n - nf;
    if (n < max && !(j == l->lo && l->ended)) {
        n = walk_on(l, out, n, max, nf, m, j);
        if (sample && n > 0)
            note_reuse(l, taken, n);
        return n;
    }
    keep_inner_part(l, nf, m, j, same_outer);
    if (sample)
        note_reuse(l, taken, n);
    return n;
}
