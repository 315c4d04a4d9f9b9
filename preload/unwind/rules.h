/* The fast unwinder's cache of call-frame rules by return address (rules.c): one global
 * table, filled without a lock as threads meet new addresses, read with two loads. */
#ifndef MEMTAP_PRELOAD_RULES_H
#define MEMTAP_PRELOAD_RULES_H

#include <stdint.h>

/* A rule as one word: how to step out of the frame whose return address it was looked up
 * for. Bits 0-31: the CFA's offset from RSP or RBP; bits 32-47: the saved RBP's offset from
 * the CFA (signed); bits 48-63: the flags below. The caller's return address is at CFA - 8.
 * A word without MEMTAP_W_RSP (0, among others) is not a fast one: see memtap_rule_step. */
#define MEMTAP_W_RSP 0x1u       /* CFA = RSP + off, off in [8, MEMTAP_MAX_FRAME_BYTES) */
#define MEMTAP_W_RBP 0x2u       /* CFA = RBP + off (checked against RSP at each step) */
#define MEMTAP_W_END 0x4u       /* the return address is undefined: the outermost frame */
#define MEMTAP_W_RBP_SAVED 0x8u /* the caller's RBP is at CFA + its offset */
#define MEMTAP_W_FLAG(w, f) (((w) >> 48) & (f))
#define MEMTAP_W_OFF(w) ((uint32_t)(w))
#define MEMTAP_W_RBP_OFF(w) ((uint64_t)(int64_t)(int16_t)((w) >> 32))
/* whether stepping out of a frame with rule w reads its RBP (w 0, unknown: yes) */
#define MEMTAP_W_RBP_USED(w)                                                                       \
    (!MEMTAP_W_FLAG(w, MEMTAP_W_RSP) || !MEMTAP_W_FLAG(w, MEMTAP_W_RBP_SAVED))

#define MEMTAP_MAX_FRAME_BYTES (64ull << 20) /* no frame this large: the walk went astray */

/* The table: 2^16 slots of 16 bytes. A slot's ip is written once, after its rule. */
#define MEMTAP_RULE_BITS 16
typedef struct {
    uint64_t ip, rule;
} memtap_rule_slot_t;
extern memtap_rule_slot_t memtap_rules[1u << MEMTAP_RULE_BITS];

/* Bumped by memtap_rule_cache_clear: walks kept from before it are forgotten. Read at every
 * walk: a cache line of its own (a lock beside it made it a miss). */
typedef struct {
    _Alignas(64) unsigned value;
    char line[60];
} memtap_rules_generation_t;
extern memtap_rules_generation_t memtap_rules_generation;

/* Forgets every rule (after dlclose: another module may be mapped where one was). Any
 * thread; walks under way meanwhile may keep rules read before. Safe inside malloc. */
void memtap_rule_cache_clear(void);

/* The rule at return address ip, from the CFI when no slot has it yet (then kept), or 0
 * when the fast unwinder cannot step out of that frame (libunwind must). Safe inside
 * malloc; may take libgcc's lock on the loader's list (inside the unwind gate). */
uint64_t memtap_rule_find(uint64_t ip);

/* memtap_rule_find, with the usual case inline: the address's home slot holds it. */
static inline uint64_t memtap_rule_of(uint64_t ip) {
    const memtap_rule_slot_t *s =
        &memtap_rules[(ip * 0x9e3779b97f4a7c15ull) >> (64 - MEMTAP_RULE_BITS)];
    if (__builtin_expect(__atomic_load_n(&s->ip, __ATOMIC_ACQUIRE) == ip, 1))
        return __atomic_load_n(&s->rule, __ATOMIC_RELAXED);
    return memtap_rule_find(ip);
}

/* Registers of one frame: its return address (what the walk records), RSP and RBP. */
typedef struct {
    uint64_t ip, rsp, rbp;
} memtap_regs_t;

/* One frame outwards from g with rule w (memtap_rule_of(g->ip)). Returns 1, 0 when g is the
 * outermost frame, -1 when libunwind must step, -2 when g->ip is 0: g is no frame (the one
 * stepped from was the outermost). Loads only within MEMTAP_MAX_FRAME_BYTES above g->rsp
 * (and the saved RBP's offset from there). */
static inline int memtap_rule_step(memtap_regs_t *g, uint64_t w) {
    uint64_t cfa;
    if (__builtin_expect(MEMTAP_W_FLAG(w, MEMTAP_W_RSP), 1)) {
        cfa = g->rsp + MEMTAP_W_OFF(w);
    } else if (MEMTAP_W_FLAG(w, MEMTAP_W_RBP)) {
        cfa = g->rbp + MEMTAP_W_OFF(w);
        if (cfa - g->rsp - 1 >= MEMTAP_MAX_FRAME_BYTES) /* not above the frame below it */
            return -1;
    } else {
        return MEMTAP_W_FLAG(w, MEMTAP_W_END) ? 0 : g->ip ? -1 : -2;
    }
    if (MEMTAP_W_FLAG(w, MEMTAP_W_RBP_SAVED))
        g->rbp = *(const uint64_t *)(uintptr_t)(cfa + MEMTAP_W_RBP_OFF(w));
    g->ip = *(const uint64_t *)(uintptr_t)(cfa - 8);
    g->rsp = cfa;
    return 1;
}

#endif
