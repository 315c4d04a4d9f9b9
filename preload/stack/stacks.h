/* Stack interning with a per-thread cache of the last stack and a shared table of whole
 * stacks: consecutive allocations of a thread share most of their outer frames, so only the
 * frames that changed since the last allocation are hashed; the hash of the whole stack
 * finds its node, which is checked by walking its parents (no lock, one probe); only a
 * stack never seen is interned frame by frame in the trie, under its lock. The result is
 * exactly what interning every frame would give (tests/unit/preload/stack/test_stacks.c
 * checks it). */
#ifndef MEMTAP_PRELOAD_STACKS_H
#define MEMTAP_PRELOAD_STACKS_H

#include <stdint.h>

#include "stack/trie.h"

/* Writes the NODE record of a node the trie just created; returns 0, or -1 to abort. */
typedef int (*memtap_node_emit_fn)(uint32_t id, uint32_t parent, uint64_t frame);

/* Interns frames[0..n) (innermost first) into trie and sets *leaf to the innermost node
 * (0 for an empty stack). image identifies the trie's lifetime (memtap_image_seq): a cache
 * filled in another image gives no nodes. `known`: how many outermost frames the caller knows
 * to be those of the thread's last stack interned (they are neither compared nor read:
 * frames[n - known, n) may be unwritten). Returns 0, or -1 when memory runs out or emit
 * fails. Called with the trie's lock held; the cache is the calling thread's own. */
int memtap_stack_intern(memtap_trie_t *trie, uint32_t image, const uint64_t *frames, int n,
                        int known, int max_depth, memtap_node_emit_fn emit, uint32_t *leaf);

/* 1 when the calling thread's last stack of this image is frames[0..n) exactly (its
 * `known` outermost frames are known to be); *leaf then gets its node. Touches only the
 * thread's own cache: no lock needed. */
int memtap_stack_lookup(uint32_t image, const uint64_t *frames, int n, int known,
                        uint32_t *leaf);

/* 1 when trie's table of whole stacks has frames[0..n) (checked node by node), which then
 * becomes the thread's last stack, its node in *leaf; 0 when it has not (then
 * memtap_stack_intern, under the lock, interns it). Arguments as memtap_stack_intern's.
 * No lock: another thread may intern meanwhile. A trie emptied meanwhile for a new image
 * may give a stale node: the caller compares the image number before and after. */
int memtap_stack_find(const memtap_trie_t *trie, uint32_t image, const uint64_t *frames, int n,
                      int known, uint32_t *leaf);

/* The key of frames[0..n) in trie.h's table of whole stacks (for tests). */
uint64_t memtap_stack_key(const uint64_t *frames, int n);

/* Writes frames[n - known, n), the outermost `known` frames of the thread's last stack
 * interned, from the thread's cache. */
void memtap_stack_fill_outer(uint64_t *frames, int n, int known);

/* Releases the calling thread's cache (thread exit). */
void memtap_stack_cache_release(void);

#endif
