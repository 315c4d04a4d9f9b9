/* The leak scan at exit: the live blocks come from memtap run's collector, which replays
 * the image (the library keeps no table of its own: that would cost every allocation);
 * the scan runs here, in the process, where the memory is; the classes go into the
 * capture as LEAK_SCAN and LEAK_CLASSES records (docs/format.md). May call output/ (shm,
 * stream, pacing), base/ and leaks.h. */
#include "leaks/exit_scan.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "leaks/leaks.h"
#include "memtap/collector.h"
#include "memtap/format.h"
#include "memtap/varint.h"
#include "output/pacing.h"
#include "output/shm.h"
#include "output/stream.h"

_Static_assert(sizeof(memtap_shm_block_t) == sizeof(memtap_live_block_t), "live table layout");

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How long the collector may take to answer once it stopped coming round (it replays the
 * image first, and beats only between rounds): MEMTAP_SHM_STALE_NS, and 5 us for each of
 * the image's records. A fixed 5 s gave up, silently, on a heap of 16.7 M blocks while the
 * collector was still replaying; with this it answered, the whole scan taking 21 s on a
 * shared 2-core machine (docs/performance.md, "Leak scan at exit"). */
static uint64_t answer_allowance_ns(void) {
    return MEMTAP_SHM_STALE_NS + (memtap_stream.allocations + memtap_stream.frees) * 5000u;
}

/* Asks the collector for the live table and waits for its answer. 1 when READY; 0, after
 * one line on stderr when the collector did not answer in time. */
static int ask_for_live_blocks(void) {
    memtap_shm_control_t *c = memtap_shm;
    uint64_t allowance = answer_allowance_ns();
    __atomic_store_n(&c->scan_state, MEMTAP_SCAN_ASKED, __ATOMIC_SEQ_CST);
    for (;;) {
        uint32_t st = __atomic_load_n(&c->scan_state, __ATOMIC_ACQUIRE);
        if (st != MEMTAP_SCAN_ASKED)
            return st == MEMTAP_SCAN_READY;
        /* a collector that has gone, or stopped coming round, will not answer */
        if (__atomic_load_n(&c->collector_gone, __ATOMIC_ACQUIRE))
            return 0;
        if (now_ns() - __atomic_load_n(&c->collector_beat_ns, __ATOMIC_ACQUIRE) >= allowance) {
            memtap_note("the leak scan at exit had no answer from memtap run in time; the "
                        "capture has no leak classes", NULL, 0);
            return 0;
        }
        struct timespec ts = {0, 100 * 1000000L};
        syscall(SYS_futex, &c->scan_state, FUTEX_WAIT, MEMTAP_SCAN_ASKED, &ts, NULL, 0);
    }
}

static void *scratch(size_t bytes) {
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The roots: the process's writable memory but memtap's own region and frames (leaks.h's
 * rules; memtap_cfa: memtap_leak_scan_at_exit's). */
static memtap_range_t *find_roots(const memtap_live_block_t *blocks, size_t n, size_t *nroots,
                                  size_t *bytes, uintptr_t memtap_cfa) {
    volatile uint64_t here = 0;
    uint64_t sp = (uintptr_t)&here & ~(uint64_t)4095;
    memtap_range_t region[2] = {
        {(uint64_t)(uintptr_t)memtap_shm, (uint64_t)(uintptr_t)memtap_shm + MEMTAP_SHM_SIZE, 0},
        {sp, memtap_cfa > sp ? memtap_cfa : sp, 0},
    };
    for (size_t cap = 4096; cap <= (1u << 22); cap *= 4) {
        *bytes = cap * sizeof(memtap_range_t);
        memtap_range_t *roots = scratch(*bytes);
        if (!roots)
            return NULL;
        int got = memtap_leak_roots(roots, cap, region, 2, blocks, n);
        if (got >= 0) {
            *nroots = (size_t)got;
            return roots;
        }
        munmap(roots, *bytes);
        if (got != -ENOSPC)
            return NULL;
    }
    return NULL;
}

/* Appends the LEAK_SCAN record, then the classes, MEMTAP_LEAK_CLASSES_MAX blocks a record. */
static void write_classes(const memtap_live_block_t *blocks, const uint8_t *classes, size_t n,
                          uint64_t ms) {
    uint8_t rec[16 + 2 * MEMTAP_VARINT_MAX + MEMTAP_LEAK_CLASSES_MAX / 4];
    uint64_t hash = 0;
    for (size_t i = 0; i < n; i++)
        hash = memtap_leak_hash(hash, blocks[i].addr);
    size_t k = 0;
    rec[k++] = MEMTAP_REC_LEAK_SCAN;
    k += memtap_varint_put(rec + k, n);
    k += memtap_varint_put(rec + k, hash);
    k += memtap_varint_put(rec + k, ms);
    memtap_stream_append(rec, k);
    for (size_t first = 0; first < n; first += MEMTAP_LEAK_CLASSES_MAX) {
        size_t m = n - first < MEMTAP_LEAK_CLASSES_MAX ? n - first : MEMTAP_LEAK_CLASSES_MAX;
        k = 0;
        rec[k++] = MEMTAP_REC_LEAK_CLASSES;
        k += memtap_varint_put(rec + k, first);
        k += memtap_varint_put(rec + k, m);
        memset(rec + k, 0, (m + 3) / 4);
        for (size_t i = 0; i < m; i++) /* leaks.h's classes are 1..4: the code is one less */
            rec[k + i / 4] |= (uint8_t)((classes[first + i] - 1) & 3) << (2 * (i % 4));
        memtap_stream_append(rec, k + (m + 3) / 4);
    }
}

void memtap_leak_scan_at_exit(uintptr_t memtap_cfa) {
    const char *v = getenv(MEMTAP_ENV_LEAK_SCAN);
    if (!memtap_shm || (v && !strcmp(v, "0")))
        return;
    uint64_t start = now_ns();
    if (memtap_stream_flush(1) < 0 || !ask_for_live_blocks())
        return; /* no classes: the reports say the scan did not run */
    size_t n = (size_t)__atomic_load_n(&memtap_shm->live_count, __ATOMIC_ACQUIRE);
    if (n > MEMTAP_SHM_LIVE_MAX)
        return;
    const memtap_live_block_t *blocks =
        (const memtap_live_block_t *)((uint8_t *)memtap_shm + MEMTAP_SHM_LIVE_OFFSET);
    size_t nroots = 0, roots_bytes = 0;
    memtap_range_t *roots = find_roots(blocks, n, &nroots, &roots_bytes, memtap_cfa);
    uint8_t *classes = roots ? scratch(n) : NULL;
    memtap_leak_stats_t stats;
    int rc = classes ? memtap_leak_classify(blocks, n, roots, nroots, classes, &stats) : -ENOMEM;
    if (rc == 0)
        write_classes(blocks, classes, n, (now_ns() - start) / 1000000u);
    else
        memtap_note("the leak scan at exit failed; the capture has no leak classes", NULL, -rc);
    if (classes)
        munmap(classes, n ? n : 1);
    if (roots)
        munmap(roots, roots_bytes);
}
