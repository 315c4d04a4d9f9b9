/* A small DWARF call-frame interpreter: runs an FDE's instructions up to an address and
 * keeps what the fast unwinder needs (CFA register and offset, where RBP and the return
 * address were saved). */
#include "unwind/cfi.h"

#include <stddef.h>
#include <string.h>

/* libgcc: the FDE that covers pc, and the bases its encodings are relative to. */
struct dwarf_eh_bases {
    void *tbase, *dbase, *func;
};
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

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

/* DW_CFA_restore: the register's rule as the CIE's initial instructions left it. */
static void restore_rule(cfi_state_t *s, const cfi_state_t *initial, uint64_t reg) {
    if (reg == REG_RBP)
        set_rule(s, reg, initial->rbp_kind, initial->rbp_off);
    else if (reg == REG_RA)
        set_rule(s, reg, initial->ra_kind, initial->ra_off);
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
            restore_rule(s, initial, low);
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
        case 0x06: restore_rule(s, initial, uleb(c)); break; /* restore_extended */
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
        case 0x12: /* def_cfa_sf */
            s->cfa_reg = (int)uleb(c);
            s->cfa_off = sleb(c) * cie->data_align;
            s->cfa_expr = 0;
            break;
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
        case 0x2f: /* GNU_negative_offset_extended */
            reg = uleb(c);
            set_rule(s, reg, R_OFFSET, -(int64_t)uleb(c) * cie->data_align);
            break;
        default:
            return -1;
        }
    }
    return c->bad ? -1 : 0;
}

int memtap_cfi_rule(uint64_t ip, memtap_rule_t *out) {
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

