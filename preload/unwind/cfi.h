/* Call-frame rules for the fast unwinder: from the DWARF CFI (.eh_frame) that covers a
 * return address, the rule that steps out of its frame. */
#ifndef MEMTAP_PRELOAD_CFI_H
#define MEMTAP_PRELOAD_CFI_H

#include <stdint.h>

/* The rule at one return address, packed in 64 bits (0: not known). The caller's return
 * address is always at CFA - 8 (anything else is refused). */
#define RULE_KNOWN 0x1u
#define RULE_END 0x2u      /* the return address is undefined: the outermost frame */
#define RULE_CFA_RBP 0x4u  /* CFA = RBP + off (else RSP + off) */
#define RULE_RBP_SAVED 0x8u /* the caller's RBP is at CFA + rbp_off */
typedef struct {
    uint32_t cfa_off;
    int16_t rbp_off;
    uint16_t flags;
} memtap_rule_t;
_Static_assert(sizeof(memtap_rule_t) == 8, "a rule is one 64-bit word");

/* The rule at return address ip (the call is at ip - 1), read from the FDE libgcc's
 * _Unwind_Find_FDE finds. Returns 0, or -1 for anything the fast unwinder does not handle:
 * no FDE, a signal frame, a CFA or register given by a DWARF expression. Allocates
 * nothing; safe inside malloc. */
int memtap_cfi_rule(uint64_t ip, memtap_rule_t *out);

#endif
