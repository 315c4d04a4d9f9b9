/* The rule cache of the fast unwinder: rules read from the DWARF CFI (cfi.c) once per
 * return address, kept in a fixed table that threads fill without a lock. */
#include "unwind/rules.h"

#include <stddef.h>
#include <string.h>

#include "memtap/hashtab.h"
#include "unwind/cfi.h"
#include "unwind/gate.h"

#define TABLE_SIZE (1u << MEMTAP_RULE_BITS)
#define MAX_PROBES 8
/* An address known to need libunwind: a word no step takes (memtap_rule_step gives -1), so
 * the CFI is not searched again at every walk through it. */
#define W_LIBUNWIND (0x8000ull << 48)
/* A slot being filled holds this form of its ip until its rule is in: no lookup matches it,
 * and no other thread claims the slot meanwhile. (User-space addresses have bit 63 clear.) */
#define CLAIMED(ip) ((ip) | 1ull << 63)

/* A slot's ip is set once (compare-and-swap from 0 to CLAIMED) and never changed but to
 * publish it. A neighbourhood crowded past MAX_PROBES slots leaves a rule unkept: it is
 * computed again next time. */
_Alignas(64) memtap_rule_slot_t memtap_rules[TABLE_SIZE];

memtap_rules_generation_t memtap_rules_generation;

/* A slot whose ip is 0 has a rule of 0: the rule memtap_rule_of finds for a return address
 * of 0 (the end of a stack). So the rule goes first. */
void memtap_rule_cache_clear(void) {
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        __atomic_store_n(&memtap_rules[i].rule, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&memtap_rules[i].ip, 0, __ATOMIC_RELEASE);
    }
    __atomic_fetch_add(&memtap_rules_generation.value, 1, __ATOMIC_RELEASE);
}

typedef MEMTAP_HASHTAB(memtap_rule_slot_t) rule_table_t;
#define HOME(ip) (((ip)*0x9e3779b97f4a7c15ull) >> (64 - MEMTAP_RULE_BITS))
#define MEMTAP_HT_NAME rules
#define MEMTAP_HT_TABLE rule_table_t
#define MEMTAP_HT_SLOT memtap_rule_slot_t
#define MEMTAP_HT_KEY uint64_t
#define MEMTAP_HT_HASH(ip) HOME(ip)
#define MEMTAP_HT_EMPTY(s) (__atomic_load_n(&(s)->ip, __ATOMIC_ACQUIRE) == 0)
#define MEMTAP_HT_MATCH(s, k) (__atomic_load_n(&(s)->ip, __ATOMIC_ACQUIRE) == (k))
#define MEMTAP_HT_MAX_PROBES MAX_PROBES
#define MEMTAP_HT_MATCH_FIRST /* ip 0 is never looked up here */
#include "memtap/hashtab.h"

/* The rule word of a rule from the CFI, or W_LIBUNWIND for one the fast step cannot take. */
static uint64_t word_of(const memtap_rule_t *r) {
    uint64_t flags = 0;
    if (r->flags & RULE_END) {
        flags = MEMTAP_W_END;
    } else if (r->flags & RULE_CFA_RBP) {
        flags = MEMTAP_W_RBP;
    } else if (r->cfa_off >= 8 && r->cfa_off < MEMTAP_MAX_FRAME_BYTES) {
        flags = MEMTAP_W_RSP;
    } else {
        return W_LIBUNWIND; /* the return address would not lie above RSP, or far off */
    }
    if (!(r->flags & RULE_END) && (r->flags & RULE_RBP_SAVED))
        flags |= MEMTAP_W_RBP_SAVED;
    return flags << 48 | (uint64_t)(uint16_t)r->rbp_off << 32 | r->cfa_off;
}

static void publish(uint64_t ip, uint64_t w) {
    size_t i = HOME(ip);
    for (int k = 0; k < MAX_PROBES; k++, i = (i + 1) & (TABLE_SIZE - 1)) {
        memtap_rule_slot_t *s = &memtap_rules[i];
        uint64_t expected = 0;
        if (__atomic_compare_exchange_n(&s->ip, &expected, CLAIMED(ip), 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&s->rule, w, __ATOMIC_RELAXED);
            __atomic_store_n(&s->ip, ip, __ATOMIC_RELEASE); /* after its rule */
            return;
        }
        if (expected == ip || expected == CLAIMED(ip))
            return; /* another thread has it */
    }
}

/* libgcc's FDE search may take the loader's lock: no fork meanwhile (gate.h). The walk
 * itself takes no lock and needs no gate. */
__attribute__((noinline, cold)) uint64_t memtap_rule_find(uint64_t ip) {
    if (!ip)
        return 0;
    const memtap_rule_slot_t *s = rules_find_in(memtap_rules, TABLE_SIZE - 1, ip);
    if (s)
        return __atomic_load_n(&s->rule, __ATOMIC_RELAXED);
    memtap_rule_t r;
    memtap_gate_enter();
    int rc = memtap_cfi_rule(ip, &r);
    memtap_gate_leave();
    uint64_t w = rc < 0 ? W_LIBUNWIND : word_of(&r);
    publish(ip, w);
    return w;
}
