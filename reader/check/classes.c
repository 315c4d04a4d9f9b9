/* Leak classes per allocation site (classes.h). */
#include "check/classes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/stack_view.h"

const char *memtap_class_name(unsigned cls) {
    static const char *names[MEMTAP_LC_COUNT] = {"class unknown", "still reachable",
                                                 "possibly lost", "indirectly lost",
                                                 "definitely lost"};
    return cls < MEMTAP_LC_COUNT ? names[cls] : "?";
}

const char *memtap_class_word(unsigned cls) {
    static const char *words[MEMTAP_LC_COUNT] = {"unknown", "reachable", "possible", "indirect",
                                                 "definite"};
    return cls < MEMTAP_LC_COUNT ? words[cls] : "?";
}

const char *memtap_class_key(unsigned cls) {
    static const char *keys[MEMTAP_LC_COUNT] = {"unknown", "still_reachable", "possibly_lost",
                                                "indirectly_lost", "definitely_lost"};
    return cls < MEMTAP_LC_COUNT ? keys[cls] : "?";
}

unsigned memtap_class_mask(const char *list) {
    unsigned mask = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        unsigned bit = 0;
        for (unsigned c = 0; c < MEMTAP_LC_COUNT; c++)
            if (strlen(memtap_class_word(c)) == len && !strncmp(p, memtap_class_word(c), len))
                bit = 1u << c;
        if (!bit)
            return 0;
        mask |= bit;
        p += len + (p[len] == ',');
    }
    return mask;
}

memtap_site_leak_t *memtap_site_leaks(const memtap_replay_t *r, memtap_symbolizer_t *sym,
                                      const memtap_suppressions_t *sup) {
    memtap_site_leak_t *sl = calloc(r->sites.n ? r->sites.n : 1, sizeof *sl);
    if (!sl)
        return NULL;
    for (size_t i = 0; r->live.slots && i <= r->live.mask; i++) {
        const memtap_block_t *b = &r->live.slots[i];
        if (b->used && b->site < r->sites.n)
            memtap_amount_add(&sl[b->site].cls[b->leak_class < MEMTAP_LC_COUNT ? b->leak_class : 0],
                              (memtap_amount_t){1, b->size});
    }
    for (size_t i = 0; i < r->regions.n; i++) {
        const memtap_region_t *g = &r->regions.v[i];
        if (g->site < r->sites.n)
            memtap_amount_add(&sl[g->site].cls[g->leak_class < MEMTAP_LC_COUNT ? g->leak_class : 0],
                              (memtap_amount_t){1, g->len});
    }
    if (!sup || !sym)
        return sl;
    memtap_stack_view_t view = {0};
    for (size_t s = 1; s < r->sites.n; s++) {
        if (!r->sites.v[s].live_blocks)
            continue;
        if (memtap_stack_view(sym, r, r->sites.v[s].node, 0, &view) < 0) {
            memtap_stack_view_free(&view);
            free(sl);
            return NULL;
        }
        sl[s].rule = memtap_suppressions_match(sup, view.v, view.n);
        if (!sl[s].rule)
            sl[s].lost_rule = memtap_suppressions_match_lost(sup, view.v, view.n);
        sl[s].python_native = memtap_python_native_block(view.v, view.n);
    }
    memtap_stack_view_free(&view);
    return sl;
}

void memtap_site_leaks_total(const memtap_site_leak_t *sl, size_t nsites,
                             memtap_amount_t by_class[MEMTAP_LC_COUNT],
                             memtap_amount_t *suppressed) {
    memset(by_class, 0, MEMTAP_LC_COUNT * sizeof *by_class);
    memset(suppressed, 0, sizeof *suppressed);
    for (size_t s = 1; s < nsites; s++)
        for (unsigned c = 0; c < MEMTAP_LC_COUNT; c++)
            memtap_amount_add(memtap_site_suppressed(&sl[s], c) ? suppressed : &by_class[c],
                              sl[s].cls[c]);
}

const char *memtap_site_suppressed(const memtap_site_leak_t *sl, unsigned cls) {
    return sl->rule ? sl->rule : cls != MEMTAP_LC_REACHABLE ? sl->lost_rule : NULL;
}

void memtap_class_totals(const memtap_replay_t *r, memtap_amount_t out[MEMTAP_LC_COUNT]) {
    memset(out, 0, MEMTAP_LC_COUNT * sizeof *out);
    for (size_t i = 0; r->live.slots && i <= r->live.mask; i++) {
        const memtap_block_t *b = &r->live.slots[i];
        if (b->used)
            memtap_amount_add(&out[b->leak_class < MEMTAP_LC_COUNT ? b->leak_class : 0],
                              (memtap_amount_t){1, b->size});
    }
    for (size_t i = 0; i < r->regions.n; i++) {
        const memtap_region_t *g = &r->regions.v[i];
        memtap_amount_add(&out[g->leak_class < MEMTAP_LC_COUNT ? g->leak_class : 0],
                          (memtap_amount_t){1, g->len});
    }
}

const char *memtap_leak_scan_word(const memtap_replay_t *r) {
    return r->leak_scan == MEMTAP_LEAK_SCAN_DONE       ? "done"
           : r->leak_scan == MEMTAP_LEAK_SCAN_MISMATCH ? "mismatch"
                                                       : "none";
}
