/* Leak classes per allocation site: the blocks each site still holds at the end, by the
 * class the leak scan at exit gave them, and the suppression that takes the site out of
 * the reports. What the leaks and summary reports and the check share. May call replay,
 * symbolize, check/suppress. */
#ifndef MEMTAP_READER_CHECK_CLASSES_H
#define MEMTAP_READER_CHECK_CLASSES_H

#include <stdint.h>

#include "check/suppress.h"
#include "memtap/format.h"
#include "replay/replay.h"
#include "symbolize/symbolize.h"

/* Classes as the replay keeps them (memtap_block_t.leak_class): MEMTAP_CLASS_* + 1, and 0
 * for a block of a process that has no classes (no scan, or a scan that did not match). */
enum {
    MEMTAP_LC_UNKNOWN = 0,
    MEMTAP_LC_REACHABLE = MEMTAP_CLASS_REACHABLE + 1,
    MEMTAP_LC_POSSIBLE = MEMTAP_CLASS_POSSIBLE + 1,
    MEMTAP_LC_INDIRECT = MEMTAP_CLASS_INDIRECT + 1,
    MEMTAP_LC_DEFINITE = MEMTAP_CLASS_DEFINITE + 1,
    MEMTAP_LC_COUNT = 5,
};

typedef struct {
    uint64_t blocks, bytes;
} memtap_amount_t;

static inline void memtap_amount_add(memtap_amount_t *a, memtap_amount_t b) {
    a->blocks += b.blocks;
    a->bytes += b.bytes;
}

/* "definitely lost", "indirectly lost", "possibly lost", "still reachable", "class
 * unknown" */
const char *memtap_class_name(unsigned cls);
/* "definite", "indirect", "possible", "reachable", "unknown": the --class words */
const char *memtap_class_word(unsigned cls);
/* "definitely_lost", ... "unknown": JSON keys */
const char *memtap_class_key(unsigned cls);

/* Parses a comma-separated list of --class words into a bit mask (bit c: class c).
 * Returns the mask, or 0 for a word that is none of them. */
unsigned memtap_class_mask(const char *list);

/* What one site still holds at the end. */
typedef struct {
    memtap_amount_t cls[MEMTAP_LC_COUNT];
    const char *rule; /* the suppression that matched its stack (suppress.h), or NULL */
    const char *lost_rule; /* memtap_suppressions_match_lost's, or NULL */
    int python_native;     /* memtap_python_native_block: possibly lost is judged */
} memtap_site_leak_t;

/* The rule that suppresses class cls of site sl, or NULL. */
const char *memtap_site_suppressed(const memtap_site_leak_t *sl, unsigned cls);

/* One entry per site of r (r->sites.n, [0] unused): its live blocks by class (regions,
 * the program's anonymous mappings, included), and with sup, its stack (symbolized by
 * sym) matched against the suppressions. NULL when out of memory. */
memtap_site_leak_t *memtap_site_leaks(const memtap_replay_t *r, memtap_symbolizer_t *sym,
                                      const memtap_suppressions_t *sup);

/* The whole process: each class (suppressed sites left out) into by_class, the
 * suppressed sites into *suppressed. */
void memtap_site_leaks_total(const memtap_site_leak_t *sl, size_t nsites,
                             memtap_amount_t by_class[MEMTAP_LC_COUNT],
                             memtap_amount_t *suppressed);

/* The blocks (and the program's anonymous mappings) r holds at the end, by class. */
void memtap_class_totals(const memtap_replay_t *r, memtap_amount_t out[MEMTAP_LC_COUNT]);

/* "done", "none" or "mismatch": r's leak scan (replay.h MEMTAP_LEAK_SCAN_*). */
const char *memtap_leak_scan_word(const memtap_replay_t *r);

#endif
