/* The stack of an allocating call and its node in the image's stack trie (callstack.c). */
#ifndef MEMTAP_PRELOAD_CALLSTACK_H
#define MEMTAP_PRELOAD_CALLSTACK_H

#include <stdint.h>

/* Frames kept per stack (MEMTAP_MAX_DEPTH at most), and whether a thread running Python
 * records its Python frames only. At init. */
void memtap_callstack_configure(int max_depth, int python_only);

/* The frames array memtap_stack_of_call needs, in elements. */
int memtap_callstack_room(void);

/* Fills frames (innermost first: native frames, then the thread's Python frames) and sets
 * *known to how many outermost frames the thread's last stack shares. Returns how many.
 * frames[n - *known, n) may be left unwritten: memtap_callstack_intern takes them from the
 * thread's stack cache, which holds them. With use_memo, a stack with Python frames whose
 * key (its native frames, its Python frame chain) the thread's memo holds writes no Python
 * frames: MEMTAP_STACK_MEMO is returned, and memtap_callstack_intern gives its node and
 * image (another image's when one began since: then walk again without the memo). */
#define MEMTAP_STACK_MEMO (-1)
int memtap_stack_of_call(uint64_t *frames, int *known, int use_memo);

/* The node of frames[0..n) in the current image's trie, *image set to that image's
 * number (memtap_image_seq); new nodes are written as records. 0 for the empty stack, or
 * when tracking went off. A stack the thread's cache holds whole needs no lock. `known` is
 * memtap_stack_of_call's, also when called again for the same stack. */
uint32_t memtap_callstack_intern(const uint64_t *frames, int n, int known, uint32_t *image);

/* An image starts (empty trie; -1: out of memory) or ends; the trie lock, taken
 * around fork and exec (after modules_lock, before the record lock); reset in a fork child. */
int memtap_callstack_begin_image(void);
void memtap_callstack_end_image(void);
void memtap_callstack_lock(void);
void memtap_callstack_unlock(void);
void memtap_callstack_after_fork(void);

#endif
