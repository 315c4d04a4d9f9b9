/* A thread's memo of whole stacks by key: the node a stack was interned as, found again
 * without reading its frames' values or hashing them into the trie. The key is whatever
 * determines the stack exactly (stacks with Python frames: the native frames walked, by
 * their version (versions.h) or listed, and the raw (code object, instruction) pairs of the
 * thread's frame chain, callstack.c and pystack.c), so a key met again names the same node
 * in the same image, as long as no code object was freed in between (the epoch). Per
 * thread: no lock, no atomics. */
#ifndef MEMTAP_PRELOAD_MEMO_H
#define MEMTAP_PRELOAD_MEMO_H

#include <stdint.h>

/* Longest key kept, in words: longer stacks are interned as usual. */
#define MEMTAP_MEMO_KEY_MAX 258

/* A key's hash, word by word as the key is read: h = MEMTAP_MEMO_SEED, then
 * h = memtap_memo_mix(h, word) for each word (its top bits pick the slot). */
#define MEMTAP_MEMO_SEED 0x243f6a8885a308d3ull
static inline uint64_t memtap_memo_mix(uint64_t h, uint64_t word) {
    return (h ^ word) * 0x9e3779b97f4a7c15ull;
}

/* The node of key[0..n) (whose hash is h) in image `image` with code epoch `epoch`, or 0
 * when the thread has not interned that key there (or holds no memo yet). An epoch other
 * than the last one asked for empties the memo. */
uint32_t memtap_memo_find(const uint64_t *key, int n, uint64_t h, uint32_t image,
                          uint32_t epoch);

/* Remembers that key[0..n) (hash h) was interned as `leaf` in `image` with code epoch
 * `epoch`. Maps the thread's memo on first use; does nothing when memory runs out. */
void memtap_memo_store(const uint64_t *key, int n, uint64_t h, uint32_t image, uint32_t epoch,
                       uint32_t leaf);

/* Thread exit: unmaps the thread's memo; the thread maps none again (allocations of later
 * destructors go without). */
void memtap_memo_thread_exit(void);

#endif
