/* The leak scan: classifies the blocks still live at exit as reachable, possibly lost,
 * indirectly lost or definitely lost, the way valgrind's memcheck does, by a conservative
 * scan of the process's memory for pointers (classify.c), from the roots roots.c finds in
 * /proc/self/smaps. Runs inside the host process, reads its memory only through
 * process_vm_readv (a vanished page is a failed read, never a crash), never mallocs. */
#ifndef MEMTAP_PRELOAD_LEAKS_H
#define MEMTAP_PRELOAD_LEAKS_H

#include <stddef.h>
#include <stdint.h>

/* A live block: [addr, addr + size). A block of size 0 is taken as [addr, addr + 1), as
 * memcheck does, so that a pointer equal to addr is a start pointer to it. */
typedef struct {
    uint64_t addr, size;
} memtap_live_block_t;

/* A range of memory [start, end). flags matter for roots only (0 elsewhere). */
typedef struct {
    uint64_t start, end;
    uint64_t flags;
} memtap_range_t;

/* Root flag: only the pages of the range that are present or swapped out are read
 * (PAGEMAP_SCAN, Linux 6.7; before it, the pages mincore says are resident). roots.c sets
 * it on every mapping without swapped-out pages: a page never written reads as zeros, a
 * file page not copied on write holds the file's bytes, and neither can hold a pointer
 * into the heap. An untouched 8 MiB thread stack then costs one system call, not 2048
 * page faults, and a sanitizer's 15 TiB shadow (with PAGEMAP_SCAN) one, not hours. */
#define MEMTAP_RANGE_RESIDENT_ONLY 1u

/* The four classes, memcheck's ("still reachable", "possibly lost", "indirectly lost",
 * "definitely lost"). The values are stable: they may be written to captures. */
enum memtap_leak_class {
    MEMTAP_LEAK_REACHABLE = 1,
    MEMTAP_LEAK_POSSIBLE = 2,
    MEMTAP_LEAK_INDIRECT = 3,
    MEMTAP_LEAK_DEFINITE = 4,
};

/* What a classification found and what it cost. blocks and bytes are indexed by class. */
typedef struct {
    uint64_t blocks[5], bytes[5];
    uint64_t root_bytes;       /* root bytes read and scanned */
    uint64_t heap_bytes;       /* block bytes scanned (a block scanned twice counts twice) */
    uint64_t unreadable_bytes; /* bytes that could not be read (unmapped meanwhile): no pointers */
    uint64_t edges;            /* pointers between blocks kept in the snapshot */
    uint64_t lazy_blocks;      /* blocks past the snapshot's budget, read when scanned */
    uint64_t reads;            /* process_vm_readv calls */
    uint64_t scratch_bytes;    /* scratch memory mapped (only the part touched costs) */
} memtap_leak_stats_t;

/* Classifies blocks[0..n) (sorted by address, not overlapping, none containing address 0
 * or wrapping around the address space, n < 2^31) by scanning roots[0..nroots) and then
 * the blocks reached from them; writes one enum memtap_leak_class per block to
 * classes_out[0..n) and, when stats is not NULL, the totals to *stats.
 * Only aligned 8-byte words are pointers (as in memcheck). The blocks array, classes_out,
 * the roots array and the scan's scratch memory are never scanned as roots, even when a
 * root range covers them.
 * Returns 0, or a negative errno: -EINVAL (blocks not sorted, overlapping, or out of
 * bounds), -ENOMEM (no scratch memory), -EPERM/-ENOSYS (process_vm_readv refused, e.g. by
 * seccomp); then classes_out is undefined and the caller should say so and go on.
 * May be called with the reentrancy guard set and from any thread while other threads run:
 * it never mallocs (scratch comes from mmap, given back before it returns), never aborts,
 * writes nothing to any fd and keeps errno. Memory that other threads change during the
 * scan gives an answer as of some moment of the scan, as any scan of a running program. */
int memtap_leak_classify(const memtap_live_block_t *blocks, size_t n, const memtap_range_t *roots,
                         size_t nroots, uint8_t *classes_out, memtap_leak_stats_t *stats);

/* Builds the root set of the calling process into out[0..cap): every private, readable and
 * writable mapping of /proc/self/smaps (module .data/.bss, anonymous memory, [stack],
 * thread stacks and TLS) except
 *   - mappings holding (part of) a live block of blocks[0..n) (sorted as for classify):
 *     the allocator's heaps ([heap], glibc's arenas, pymalloc's arenas, mmap'd chunks),
 *     whose blocks are scanned when reached, and whose free memory never is;
 *   - shared mappings, device mappings, mappings never touched (no resident or swapped
 *     page), mappings named "[anon:memtap...]" (see roots.c for why);
 *   - the exclude[0..nexclude) ranges, in any order: memtap's own memory, which must
 *     include every buffer that holds block addresses (records not yet written...); the
 *     blocks and exclude arrays themselves are left out without being listed;
 *   - the calling thread's stack below its caller's frame,
 * plus a copy of the caller's callee-saved registers (spilled by this function and copied
 * into a static buffer, which is one of the ranges even if memtap's .bss is excluded).
 * The caller's own frame is a root: it must hold no block address (the arrays it passes
 * are fine). Call memtap_leak_classify next, from the same function: the register copy
 * and the stack ranges describe the moment of this call.
 * Returns how many ranges were written, -ENOSPC when cap is too small (the number of
 * mappings + nexclude + 3 always suffices), -EIO when smaps cannot be read, -ENOMEM, or
 * -EBUSY when another thread is inside. May be called with the reentrancy guard set: no malloc
 * (a 64 KiB mmap'd buffer), no output, errno kept. */
int memtap_leak_roots(memtap_range_t *out, size_t cap, const memtap_range_t *exclude,
                      size_t nexclude, const memtap_live_block_t *blocks, size_t n);

/* Test seam: the snapshot's budget in pointers (SIZE_MAX: the default, about one pointer
 * per 32 bytes of blocks with a floor of 4 Mi). 0 makes every block lazy: read each time
 * it is reached. Not thread-safe; for tests and benchmarks. */
void memtap_leak_set_edge_budget(size_t edges);

#endif
