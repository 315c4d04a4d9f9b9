/* The fast unwinder's rule cache: rule words as the CFI gives them, kept and found again
 * (also when threads fill the table at once), addresses libunwind must take, forgetting
 * after dlclose, and one step with each kind of word. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "unwind/cfi.h"
#include "unwind/rules.h"

#define W(flags, rbp_off, off)                                                                  \
    ((uint64_t)(flags) << 48 | (uint64_t)(uint16_t)(int16_t)(rbp_off) << 32 | (uint32_t)(off))

/* Return addresses in this file's functions: noinline callers of a function that gives
 * its own return address. */
__attribute__((noinline)) static uint64_t return_address(void) {
    uint64_t ra = (uint64_t)(uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
    return ra;
}
static volatile int sink;
#define CALLER(n)                                                                               \
    __attribute__((noinline)) static uint64_t caller##n(void) {                                 \
        uint64_t ra = return_address();                                                         \
        sink += n;                                                                              \
        return ra;                                                                              \
    }
CALLER(0) CALLER(1) CALLER(2) CALLER(3) CALLER(4) CALLER(5) CALLER(6) CALLER(7)
static uint64_t (*const callers[8])(void) = {caller0, caller1, caller2, caller3,
                                              caller4, caller5, caller6, caller7};

/* The word the cache should hold for ip: what the CFI says, as rules.h packs it. */
static uint64_t expected_word(uint64_t ip) {
    memtap_rule_t r;
    cr_assert_eq(memtap_cfi_rule(ip, &r), 0, "no rule at %#lx", (unsigned long)ip);
    cr_assert_not(r.flags & RULE_END);
    uint64_t flags = (r.flags & RULE_CFA_RBP) ? MEMTAP_W_RBP : MEMTAP_W_RSP;
    if (r.flags & RULE_RBP_SAVED)
        flags |= MEMTAP_W_RBP_SAVED;
    return W(flags, r.rbp_off, r.cfa_off);
}

Test(rules, words_are_the_cfi_rules_and_stay, .timeout = 30) {
    for (int i = 0; i < 8; i++) {
        uint64_t ip = callers[i]();
        uint64_t w = memtap_rule_of(ip);
        cr_assert_eq(w, expected_word(ip), "caller%d: %#lx", i, (unsigned long)w);
        cr_assert(MEMTAP_W_FLAG(w, MEMTAP_W_RBP) || MEMTAP_W_OFF(w) >= 8);
        cr_assert_eq(memtap_rule_of(ip), w, "found again");
        cr_assert_eq(memtap_rule_find(ip), w);
    }
}

/* Code without an FDE (here: bytes of a data array) has no rule: a word no step takes, kept
 * so that the CFI is not searched again. */
Test(rules, addresses_without_cfi_are_left_to_libunwind, .timeout = 30) {
    static char not_code[64];
    uint64_t ip = (uint64_t)(uintptr_t)&not_code[17];
    uint64_t w = memtap_rule_of(ip);
    memtap_regs_t g = {ip, 0x7000, 0x8000};
    cr_assert_eq(memtap_rule_step(&g, w), -1);
    cr_assert_eq(memtap_rule_of(ip), w);
    cr_assert_eq(g.rsp, 0x7000, "a refused step moves nothing");
}

/* Steps on a made-up stack: the CFA from RSP or RBP, the caller's RBP from its slot, the
 * ends of a walk. */
Test(rules, steps_follow_the_word, .timeout = 30) {
    static uint64_t stack[64];
    uint64_t base = (uint64_t)(uintptr_t)stack;
    stack[5] = 0x1111; /* return address at CFA - 8 with CFA = base + 48 */
    stack[4] = 0x2222; /* saved RBP at CFA - 16 */
    memtap_regs_t g = {0x400000, base, 0xbeef};
    cr_assert_eq(memtap_rule_step(&g, W(MEMTAP_W_RSP, 0, 48)), 1);
    cr_assert_eq(g.ip, 0x1111);
    cr_assert_eq(g.rsp, base + 48);
    cr_assert_eq(g.rbp, 0xbeef, "RBP not saved: the caller's is the same");

    g = (memtap_regs_t){0x400000, base, 0xbeef};
    cr_assert_eq(memtap_rule_step(&g, W(MEMTAP_W_RSP | MEMTAP_W_RBP_SAVED, -16, 48)), 1);
    cr_assert_eq(g.rbp, 0x2222);

    g = (memtap_regs_t){0x400000, base, base + 32}; /* CFA = RBP + 16 */
    cr_assert_eq(memtap_rule_step(&g, W(MEMTAP_W_RBP | MEMTAP_W_RBP_SAVED, -16, 16)), 1);
    cr_assert_eq(g.ip, 0x1111);
    cr_assert_eq(g.rbp, 0x2222);

    g = (memtap_regs_t){0x400000, base + 100, base + 32}; /* RBP below RSP: astray */
    cr_assert_eq(memtap_rule_step(&g, W(MEMTAP_W_RBP, 0, 16)), -1);
    g = (memtap_regs_t){0x400000, base, base + (128ull << 20)}; /* 128 MiB above: astray */
    cr_assert_eq(memtap_rule_step(&g, W(MEMTAP_W_RBP, 0, 16)), -1);

    g = (memtap_regs_t){0x400000, base, 0};
    cr_assert_eq(memtap_rule_step(&g, W(MEMTAP_W_END, 0, 0)), 0, "the outermost frame");
    cr_assert_eq(memtap_rule_step(&g, 0), -1, "no rule");
    g.ip = 0;
    cr_assert_eq(memtap_rule_step(&g, memtap_rule_of(0)), -2, "a return address of 0");
}

Test(rules, forgetting_starts_over, .timeout = 30) {
    uint64_t ip = callers[3]();
    uint64_t w = memtap_rule_of(ip);
    unsigned generation = memtap_rules_generation.value;
    memtap_rule_cache_clear();
    cr_assert_eq(memtap_rules_generation.value, generation + 1);
    size_t kept = 0;
    for (size_t i = 0; i < sizeof memtap_rules / sizeof memtap_rules[0]; i++)
        kept += memtap_rules[i].ip != 0;
    cr_assert_eq(kept, 0, "%zu slots still hold an address", kept);
    cr_assert_eq(memtap_rule_of(ip), w, "read again from the CFI");
}

/* Threads meeting the same addresses at once: each finds the CFI's word, never a slot half
 * filled. The addresses: every return address in this binary's callers, and made-up ones
 * in its code that collide in the table. */
static uint64_t shared_ips[64];
static void *fill(void *arg) {
    int *bad = arg;
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < 64; i++) {
            uint64_t w = memtap_rule_of(shared_ips[(i + round) % 64]);
            if (w != memtap_rule_of(shared_ips[(i + round) % 64]))
                (*bad)++;
        }
    return NULL;
}

Test(rules, threads_fill_the_table_at_once, .timeout = 30) {
    for (int i = 0; i < 64; i++)
        shared_ips[i] = callers[i % 8]() + (uint64_t)(i / 8); /* inside the same calls */
    memtap_rule_cache_clear();
    pthread_t t[4];
    int bad[4] = {0};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fill, &bad[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(bad[i], 0);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(memtap_rule_of(shared_ips[i * 8]), expected_word(shared_ips[i * 8]));
}
