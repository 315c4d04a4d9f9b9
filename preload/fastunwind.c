/* A fast x86-64 unwinder for the allocation hooks: the CFA and register rules at each
 * return address are read once from the DWARF call-frame information (.eh_frame, found
 * with libgcc's _Unwind_Find_FDE) and kept in a global table keyed by the address; a
 * stack walk is then a table lookup and two loads per frame. Anything it does not handle
 * (no FDE, a signal frame, a CFA or register given by a DWARF expression, a return
 * address not at CFA-8) makes it give up, and the caller unwinds with libunwind instead.
 * The result is the same list of return addresses unw_backtrace gives (tested). */
#include "fastunwind.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* libgcc: the FDE that covers pc, and the bases its encodings are relative to. */
struct dwarf_eh_bases {
    void *tbase, *dbase, *func;
};
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* The rule at one return address, packed in 64 bits (0: not known). */
#define RULE_KNOWN 0x1u
#define RULE_END 0x2u      /* the return address is undefined: the outermost frame */
#define RULE_CFA_RBP 0x4u  /* CFA = RBP + off (else RSP + off) */
#define RULE_RBP_SAVED 0x8u /* the caller's RBP is at CFA + rbp_off */
typedef struct {
    uint32_t cfa_off;
    int16_t rbp_off;
    uint16_t flags;
} rule_t;
_Static_assert(sizeof(rule_t) == 8, "a rule is one 64-bit word");

#define TABLE_BITS 16
#define TABLE_SIZE (1u << TABLE_BITS)
#define MAX_PROBES 8
static struct {
    uint64_t ip;   /* 0: free; set once, never changed */
    uint64_t rule; /* 0 until published */
} table[TABLE_SIZE];

static size_t slot_of(uint64_t ip) {
    return (size_t)((ip * 0x9e3779b97f4a7c15ull) >> (64 - TABLE_BITS));
}

static int lookup(uint64_t ip, rule_t *r) {
    size_t i = slot_of(ip);
    for (int k = 0; k < MAX_PROBES; k++, i = (i + 1) & (TABLE_SIZE - 1)) {
        uint64_t key = __atomic_load_n(&table[i].ip, __ATOMIC_ACQUIRE);
        if (key == ip) {
            uint64_t w = __atomic_load_n(&table[i].rule, __ATOMIC_ACQUIRE);
            memcpy(r, &w, sizeof w);
            return w != 0;
        }
        if (key == 0)
            return 0;
    }
    return 0;
}

static void publish(uint64_t ip, const rule_t *r) {
    uint64_t w;
    memcpy(&w, r, sizeof w);
    size_t i = slot_of(ip);
    for (int k = 0; k < MAX_PROBES; k++, i = (i + 1) & (TABLE_SIZE - 1)) {
        uint64_t expected = 0;
        if (__atomic_compare_exchange_n(&table[i].ip, &expected, ip, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE) ||
            expected == ip) {
            __atomic_store_n(&table[i].rule, w, __ATOMIC_RELEASE);
            return;
        }
    }
    /* a crowded neighbourhood: the rule is computed again next time */
}

/* --- reading .eh_frame ---------------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
    int bad;
} reader_t;

static uint64_t uleb(reader_t *c) {
    uint64_t v = 0;
    for (unsigned shift = 0; c->p < c->end && shift < 64; shift += 7) {
        uint8_t b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

static int64_t sleb(reader_t *c) {
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t b = 0x80;
    while (c->p < c->end && (b & 0x80) && shift < 64) {
        b = *c->p++;
        v |= (int64_t)(b & 0x7f) << shift;
        shift += 7;
    }
    if (b & 0x80) {
        c->bad = 1;
        return 0;
    }
    if (shift < 64 && (b & 0x40))
        v |= -((int64_t)1 << shift);
    return v;
}

static uint64_t fixed(reader_t *c, size_t n) {
    if ((size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n); /* little endian */
    c->p += n;
    return v;
}

/* Skips a pointer of DW_EH_PE encoding enc (its value is not needed: _Unwind_Find_FDE
 * gives the function's start). */
static void skip_encoded(reader_t *c, uint8_t enc) {
    if (enc == 0xff) /* DW_EH_PE_omit */
        return;
    switch (enc & 0x0f) {
    case 0x00: fixed(c, 8); break; /* absptr */
    case 0x01: uleb(c); break;
    case 0x09: sleb(c); break;
    case 0x02: case 0x0a: fixed(c, 2); break;
    case 0x03: case 0x0b: fixed(c, 4); break;
    case 0x04: case 0x0c: fixed(c, 8); break;
    default: c->bad = 1;
    }
}

static uint64_t read_encoded_range(reader_t *c, uint8_t enc) {
    switch (enc & 0x0f) {
    case 0x00: case 0x04: case 0x0c: return fixed(c, 8);
    case 0x01: return uleb(c);
    case 0x09: return (uint64_t)sleb(c);
    case 0x02: case 0x0a: return fixed(c, 2);
    case 0x03: case 0x0b: return fixed(c, 4);
    default: c->bad = 1; return 0;
    }
}

/* Register rules the walk needs. */
enum { R_SAME = 0, R_OFFSET, R_UNDEFINED, R_OTHER };
typedef struct {
    int cfa_reg;
    int64_t cfa_off;
    int cfa_expr;
    int rbp_kind, ra_kind;
    int64_t rbp_off, ra_off;
} cfi_state_t;

typedef struct {
    int64_t data_align;
    uint64_t code_align;
    int ra_reg;
    uint8_t fde_enc;
    int signal;
    reader_t init; /* the CIE's initial instructions */
} cie_t;

static int parse_cie(const uint8_t *p, cie_t *cie) {
    reader_t c = {p, p + 4, 0};
    uint64_t len = fixed(&c, 4);
    if (len == 0xffffffffu) {
        c.end = p + 12;
        len = fixed(&c, 8);
    }
    c.end = c.p + len;
    if (c.bad || fixed(&c, 4) != 0) /* CIE id */
        return -1;
    uint8_t version = (uint8_t)fixed(&c, 1);
    const char *aug = (const char *)c.p;
    size_t aug_len = strnlen(aug, (size_t)(c.end - c.p));
    c.p += aug_len + 1;
    if (strstr(aug, "eh"))
        return -1;
    cie->code_align = uleb(&c);
    cie->data_align = sleb(&c);
    cie->ra_reg = version == 1 ? (int)fixed(&c, 1) : (int)uleb(&c);
    cie->fde_enc = 0;
    cie->signal = 0;
    if (aug[0] == 'z') {
        uint64_t n = uleb(&c);
        const uint8_t *data_end = c.p + n;
        for (const char *a = aug + 1; *a && !c.bad; a++) {
            if (*a == 'R') {
                cie->fde_enc = (uint8_t)fixed(&c, 1);
            } else if (*a == 'P') {
                uint8_t enc = (uint8_t)fixed(&c, 1);
                skip_encoded(&c, enc);
            } else if (*a == 'L') {
                fixed(&c, 1);
            } else if (*a == 'S') {
                cie->signal = 1;
            } else if (*a != 'B') {
                return -1; /* unknown augmentation */
            }
        }
        c.p = data_end;
    } else if (aug[0]) {
        return -1;
    }
    if (c.bad || c.p > c.end)
        return -1;
    cie->init = (reader_t){c.p, c.end, 0};
    return 0;
}

static void set_rule(cfi_state_t *s, uint64_t reg, int kind, int64_t off) {
    if (reg == REG_RBP) {
        s->rbp_kind = kind;
        s->rbp_off = off;
    } else if (reg == REG_RA) {
        s->ra_kind = kind;
        s->ra_off = off;
    }
}

/* Runs CFA instructions from c until the location passes target. Returns -1 on anything
 * not understood. */
static int run_cfi(reader_t *c, const cie_t *cie, cfi_state_t *s, const cfi_state_t *initial,
                   uint64_t *loc, uint64_t target) {
    cfi_state_t stack[8];
    int depth = 0;
    while (c->p < c->end && !c->bad) {
        uint8_t op = *c->p++;
        uint8_t low = op & 0x3f;
        switch (op >> 6) {
        case 1: /* advance_loc */
            *loc += low * cie->code_align;
            if (*loc > target)
                return 0;
            continue;
        case 2: /* offset */
            set_rule(s, low, R_OFFSET, (int64_t)uleb(c) * cie->data_align);
            continue;
        case 3: /* restore */
            if (low == REG_RBP) {
                s->rbp_kind = initial->rbp_kind;
                s->rbp_off = initial->rbp_off;
            } else if (low == REG_RA) {
                s->ra_kind = initial->ra_kind;
                s->ra_off = initial->ra_off;
            }
            continue;
        }
        uint64_t reg, delta;
        switch (op) {
        case 0x00: break;                                 /* nop */
        case 0x02: delta = fixed(c, 1); goto advance;     /* advance_loc1 */
        case 0x03: delta = fixed(c, 2); goto advance;     /* advance_loc2 */
        case 0x04: delta = fixed(c, 4); goto advance;     /* advance_loc4 */
        advance:
            *loc += delta * cie->code_align;
            if (*loc > target)
                return 0;
            break;
        case 0x05: /* offset_extended */
            reg = uleb(c);
            set_rule(s, reg, R_OFFSET, (int64_t)uleb(c) * cie->data_align);
            break;
        case 0x11: /* offset_extended_sf */
            reg = uleb(c);
            set_rule(s, reg, R_OFFSET, sleb(c) * cie->data_align);
            break;
        case 0x06: /* restore_extended */
            reg = uleb(c);
            if (reg == REG_RBP) {
                s->rbp_kind = initial->rbp_kind;
                s->rbp_off = initial->rbp_off;
            } else if (reg == REG_RA) {
                s->ra_kind = initial->ra_kind;
                s->ra_off = initial->ra_off;
            }
            break;
        case 0x07: set_rule(s, uleb(c), R_UNDEFINED, 0); break; /* undefined */
        case 0x08: set_rule(s, uleb(c), R_SAME, 0); break;      /* same_value */
        case 0x09: reg = uleb(c); uleb(c); set_rule(s, reg, R_OTHER, 0); break; /* register */
        case 0x0a: /* remember_state */
            if (depth == 8)
                return -1;
            stack[depth++] = *s;
            break;
        case 0x0b: /* restore_state */
            if (depth == 0)
                return -1;
            *s = stack[--depth];
            break;
        case 0x0c: s->cfa_reg = (int)uleb(c); s->cfa_off = (int64_t)uleb(c); s->cfa_expr = 0; break;
        case 0x12: s->cfa_reg = (int)uleb(c); s->cfa_off = sleb(c) * cie->data_align; s->cfa_expr = 0; break;
        case 0x0d: s->cfa_reg = (int)uleb(c); break;
        case 0x0e: s->cfa_off = (int64_t)uleb(c); break;
        case 0x13: s->cfa_off = sleb(c) * cie->data_align; break;
        case 0x0f: { /* def_cfa_expression */
            uint64_t n = uleb(c);
            c->p += n;
            s->cfa_expr = 1;
            break;
        }
        case 0x10: case 0x16: { /* expression, val_expression */
            reg = uleb(c);
            uint64_t n = uleb(c);
            c->p += n;
            set_rule(s, reg, R_OTHER, 0);
            break;
        }
        case 0x14: reg = uleb(c); uleb(c); set_rule(s, reg, R_OTHER, 0); break; /* val_offset */
        case 0x15: reg = uleb(c); sleb(c); set_rule(s, reg, R_OTHER, 0); break;
        case 0x2e: uleb(c); break;                                            /* GNU_args_size */
        case 0x2f: reg = uleb(c); set_rule(s, reg, R_OFFSET, -(int64_t)uleb(c) * cie->data_align); break;
        default:
            return -1;
        }
    }
    return c->bad ? -1 : 0;
}

/* The rule at return address ip (the call is at ip - 1). Returns 0 or -1. */
static int compute_rule(uint64_t ip, rule_t *out) {
    struct dwarf_eh_bases bases;
    const uint8_t *fde = _Unwind_Find_FDE((void *)(uintptr_t)(ip - 1), &bases);
    if (!fde)
        return -1;
    reader_t c = {fde, fde + 4, 0};
    uint64_t len = fixed(&c, 4);
    if (len == 0xffffffffu) {
        c.end = fde + 12;
        len = fixed(&c, 8);
    }
    if (len == 0 || c.bad)
        return -1;
    c.end = c.p + len;
    const uint8_t *id_at = c.p;
    uint32_t cie_off = (uint32_t)fixed(&c, 4);
    if (cie_off == 0)
        return -1; /* a CIE, not an FDE */
    cie_t cie;
    if (parse_cie(id_at - cie_off, &cie) < 0 || cie.signal || cie.ra_reg != REG_RA)
        return -1;
    skip_encoded(&c, cie.fde_enc);                  /* pc_begin: bases.func has it */
    uint64_t range = read_encoded_range(&c, cie.fde_enc);
    uint64_t start = (uint64_t)(uintptr_t)bases.func;
    if (c.bad || ip - 1 < start || ip - 1 >= start + range)
        return -1;
    c.p += uleb(&c); /* augmentation data ('z'): the LSDA pointer */
    if (c.bad || c.p > c.end)
        return -1;

    cfi_state_t s = {REG_RSP, 8, 0, R_SAME, R_SAME, 0, 0}, initial;
    uint64_t loc = start;
    reader_t init = cie.init;
    if (run_cfi(&init, &cie, &s, &s, &loc, UINT64_MAX) < 0)
        return -1;
    initial = s;
    loc = start;
    if (run_cfi(&c, &cie, &s, &initial, &loc, ip - 1) < 0)
        return -1;

    memset(out, 0, sizeof *out);
    out->flags = RULE_KNOWN;
    if (s.ra_kind == R_UNDEFINED) {
        out->flags |= RULE_END;
        return 0;
    }
    if (s.cfa_expr || (s.cfa_reg != REG_RSP && s.cfa_reg != REG_RBP) || s.cfa_off <= 0 ||
        s.cfa_off > INT32_MAX || s.ra_kind != R_OFFSET || s.ra_off != -8)
        return -1;
    if (s.rbp_kind == R_OFFSET) {
        if (s.rbp_off < INT16_MIN || s.rbp_off > INT16_MAX)
            return -1;
        out->flags |= RULE_RBP_SAVED;
        out->rbp_off = (int16_t)s.rbp_off;
    } else if (s.rbp_kind != R_SAME) {
        return -1;
    }
    if (s.cfa_reg == REG_RBP)
        out->flags |= RULE_CFA_RBP;
    out->cfa_off = (uint32_t)s.cfa_off;
    return 0;
}

/* --- the walk ---------------------------------------------------------------------- */

#define MAX_FRAME_BYTES (64ull << 20) /* no frame this large: the walk went astray */

typedef struct {
    uint64_t ip, rsp, rbp;
} regs_t;

/* One frame outwards. Returns 1, 0 at the outermost frame, -1 when libunwind must do it. */
static inline int step(regs_t *g) {
    rule_t r;
    if (__builtin_expect(!lookup(g->ip, &r), 0)) {
        if (compute_rule(g->ip, &r) < 0)
            return -1;
        publish(g->ip, &r);
    }
    if (r.flags & RULE_END)
        return 0;
    uint64_t cfa = ((r.flags & RULE_CFA_RBP) ? g->rbp : g->rsp) + r.cfa_off;
    if (cfa - g->rsp - 1 >= MAX_FRAME_BYTES) /* not above the frame below it */
        return -1;
    if (r.flags & RULE_RBP_SAVED)
        g->rbp = *(const uint64_t *)(uintptr_t)(cfa + r.rbp_off);
    g->ip = *(const uint64_t *)(uintptr_t)(cfa - 8);
    g->rsp = cfa;
    return g->ip != 0;
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
 * exact; the first difference resumes an ordinary walk from the last frame checked. */

typedef struct {
    uint64_t ip, rsp, rbp;
    uint64_t rbp_slot; /* where the step out of this frame loaded the caller's RBP (0: none) */
} kept_t;

#define KEEP_CAP 1100 /* frames of one walk: MEMTAP_MAX_DEPTH and some */

typedef struct {
    int n;           /* kept[0] outermost .. kept[n-1] innermost */
    int ended;       /* the kept walk reached the outermost frame */
    size_t bytes;
    kept_t kept[KEEP_CAP];
    kept_t fresh[KEEP_CAP]; /* the current walk's frames, innermost first */
} last_t;

static __thread last_t *tls_last __attribute__((tls_model("initial-exec")));

static last_t *last_walk(void) {
    last_t *l = tls_last;
    if (!l) {
        void *p = mmap(NULL, sizeof *l, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        l = p;
        l->bytes = sizeof *l;
        tls_last = l;
    }
    return l;
}

void memtap_fast_unwind_thread_exit(void) {
    last_t *l = tls_last;
    tls_last = NULL;
    if (l)
        munmap(l, l->bytes);
}

/* Whether the walk steps from kept frame `inner` to `outer` now as it did then: the same
 * return address in the slot it loads, and the same saved RBP where it loaded one. */
static inline int still_steps(const kept_t *inner, const kept_t *outer) {
    return *(const uint64_t *)(uintptr_t)(outer->rsp - 8) == outer->ip &&
           (!inner->rbp_slot || *(const uint64_t *)(uintptr_t)inner->rbp_slot == outer->rbp);
}

/* step() that also notes where it loaded the caller's RBP from */
static inline int step_noting(regs_t *g, uint64_t *rbp_slot) {
    rule_t r;
    if (__builtin_expect(!lookup(g->ip, &r), 0)) {
        if (compute_rule(g->ip, &r) < 0)
            return -1;
        publish(g->ip, &r);
    }
    *rbp_slot = 0;
    if (r.flags & RULE_END)
        return 0;
    uint64_t cfa = ((r.flags & RULE_CFA_RBP) ? g->rbp : g->rsp) + r.cfa_off;
    if (cfa - g->rsp - 1 >= MAX_FRAME_BYTES)
        return -1;
    if (r.flags & RULE_RBP_SAVED) {
        *rbp_slot = cfa + (uint64_t)(int64_t)r.rbp_off;
        g->rbp = *(const uint64_t *)(uintptr_t)*rbp_slot;
    }
    g->ip = *(const uint64_t *)(uintptr_t)(cfa - 8);
    g->rsp = cfa;
    return g->ip != 0;
}

void memtap_fast_unwind_forget(void) {
    if (tls_last)
        tls_last->n = 0;
}

__attribute__((noinline)) int memtap_fast_unwind(uint64_t *out, int max, uint64_t skip_lo,
                                                 uint64_t skip_hi, int *same_outer) {
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
    int rc;
    do { /* memtap's own frames */
        if ((rc = step(&g)) <= 0)
            return rc < 0 ? -1 : 0;
    } while (g.ip >= skip_lo && g.ip < skip_hi);
    last_t *l = max < KEEP_CAP ? last_walk() : NULL;
    if (!l)
        return walk_plain(&g, out, max);

    int nf = 0, m = l->n - 1, ended = 0;
    for (;;) {
        /* g: the frame to record next. Is it a kept one? (rsp only grows outwards) */
        while (m >= 0 && l->kept[m].rsp < g.rsp)
            m--;
        if (m >= 0 && l->kept[m].rsp == g.rsp && l->kept[m].ip == g.ip && l->kept[m].rbp == g.rbp)
            break;
        kept_t *f = &l->fresh[nf];
        f->ip = g.ip;
        f->rsp = g.rsp;
        f->rbp = g.rbp;
        out[nf++] = g.ip;
        if (nf == max) {
            f->rbp_slot = 0;
            m = -1;
            break;
        }
        rc = step_noting(&g, &f->rbp_slot);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            ended = 1;
            m = -1;
            break;
        }
    }
    int n = nf;
    if (m >= 0) { /* check the kept frames from m outwards */
        int j = m;
        const kept_t *k = l->kept;
        out[n++] = k[j].ip;
        while (j > 0 && n < max && still_steps(&k[j], &k[j - 1]))
            out[n++] = k[--j].ip;
        if (n < max && !(j == 0 && l->ended)) {
            /* changed beyond kept[j], or the kept walk stopped short: walk on from kept[j],
             * and keep this whole walk: fresh frames, the checked ones, the new outer ones */
            for (int i = m; i >= j; i--)
                l->fresh[nf++] = k[i];
            g.ip = k[j].ip;
            g.rsp = k[j].rsp;
            g.rbp = k[j].rbp;
            ended = 0;
            while (n < max) {
                rc = step_noting(&g, &l->fresh[nf - 1].rbp_slot);
                if (rc < 0) {
                    l->n = 0;
                    return -1;
                }
                if (rc == 0) {
                    ended = 1;
                    break;
                }
                out[n++] = g.ip;
                l->fresh[nf++] = (kept_t){g.ip, g.rsp, g.rbp, 0};
            }
            for (int i = 0; i < nf; i++)
                l->kept[nf - 1 - i] = l->fresh[i];
            l->n = nf;
            l->ended = ended;
            return n;
        }
        ended = j == 0; /* all of it, as kept (or cut at max: then kept[0..j) is unchecked,
                           and is checked again before any use) */
        if (j == 0)
            *same_outer = m + 1; /* the previous walk ended with the same m + 1 frames */
        /* the new walk: kept[0..m] and the fresh frames inside it */
        if (m + 1 + nf > KEEP_CAP) {
            l->n = 0;
            return n;
        }
        for (int i = 0; i < nf; i++)
            l->kept[m + nf - i] = l->fresh[i];
        l->n = m + 1 + nf;
        l->ended = ended;
        return n;
    }
    /* no kept frame met: the fresh walk is the new one kept */
    for (int i = 0; i < nf; i++)
        l->kept[nf - 1 - i] = l->fresh[i];
    l->n = nf;
    l->ended = ended;
    return n;
}
