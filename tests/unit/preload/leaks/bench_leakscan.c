/* The leak scan's cost on big synthetic heaps (not a unit test: run by hand).
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Ipreload -o build/bench_leakscan
 *      tests/unit/preload/leaks/bench_leakscan.c preload/leaks/[a-z]*.c
 *   build/bench_leakscan [lists|rootedlists|seqlists|large|doubles|dense|all] [MiB] [repeat]
 * Each shape builds a heap of MiB (default 1024; doubles: 100) of live blocks in one
 * mapping (blocks 16 bytes apart, as malloc's headers leave them), roots half of it from a
 * root array, then times memtap_leak_classify alone (wall and CPU time, the best of
 * repeat runs) and prints its figures. lists: 64-byte blocks in 1024 linked lists, linked in random
 * order; seqlists: the same linked in address order; large: 1 MiB blocks of integers, chained;
 * doubles: 4 KiB blocks of doubles; dense: 64-byte blocks whose every word points to a
 * random block (more pointers than the snapshot's budget: the lazy path). */
#include "leaks/leaks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void *map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static double now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct {
    uint8_t *mem;
    memtap_live_block_t *blocks;
    size_t n, size, stride;
    uint64_t *roots;
    size_t nroots;
} heap_t;

static heap_t carve(size_t heap_bytes, size_t size) {
    heap_t h = {0};
    h.size = size;
    h.stride = size + 16;
    h.n = heap_bytes / size;
    h.mem = map(h.n * h.stride + 4096);
    h.blocks = map(h.n * sizeof *h.blocks);
    for (size_t i = 0; i < h.n; i++)
        h.blocks[i] = (memtap_live_block_t){(uintptr_t)(h.mem + 16 + i * h.stride), size};
    h.roots = map(1 << 20);
    return h;
}

static uint64_t *word(const heap_t *h, size_t b) {
    return (uint64_t *)(uintptr_t)h->blocks[b].addr;
}

/* 1024 lists through all blocks, in random or address order; even lists rooted, or all. */
static void lists(heap_t *h, int shuffled, int all_rooted) {
    uint32_t *perm = map(h->n * sizeof *perm);
    for (size_t i = 0; i < h->n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = h->n - 1; shuffled && i > 0; i--) {
        size_t j = next_rand() % (i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    size_t per = h->n / 1024;
    for (size_t l = 0; l < 1024; l++) {
        for (size_t k = 0; k < per; k++) {
            uint64_t *w = word(h, perm[l * per + k]);
            for (size_t i = 0; i < h->size / 8; i++)
                w[i] = i * 1000 + k; /* data: small integers */
            w[1] = k + 1 < per ? h->blocks[perm[l * per + k + 1]].addr : 0;
        }
        if (l % 2 == 0 || all_rooted)
            h->roots[h->nroots++] = h->blocks[perm[l * per]].addr;
    }
    munmap(perm, h->n * sizeof *perm);
}

/* Each block of integers (or doubles) points to the next; the first half is rooted. */
static void chain(heap_t *h, int doubles) {
    for (size_t b = 0; b < h->n; b++) {
        uint64_t *w = word(h, b);
        for (size_t i = 0; i < h->size / 8; i++) {
            double d = (double)i * 0.25 + (double)b;
            if (doubles)
                memcpy(&w[i], &d, 8);
            else
                w[i] = i + b;
        }
        w[0] = b + 1 < h->n && b + 1 != h->n / 2 ? h->blocks[b + 1].addr : 0;
    }
    h->roots[h->nroots++] = h->blocks[0].addr;
}

static void dense(heap_t *h) {
    for (size_t b = 0; b < h->n; b++)
        for (size_t i = 0; i < h->size / 8; i++)
            word(h, b)[i] = h->blocks[next_rand() % h->n].addr + (i == 3 ? 8 : 0);
    h->roots[h->nroots++] = h->blocks[0].addr;
}

static int repeat = 1;

static void run(const char *shape, size_t mib) {
    size_t bytes = mib << 20;
    heap_t h;
    if (!strcmp(shape, "lists") || !strcmp(shape, "seqlists") || !strcmp(shape, "rootedlists")) {
        h = carve(bytes, 64);
        lists(&h, strcmp(shape, "seqlists") != 0, !strcmp(shape, "rootedlists"));
    } else if (!strcmp(shape, "large")) {
        h = carve(bytes, 1 << 20);
        chain(&h, 0);
    } else if (!strcmp(shape, "doubles")) {
        h = carve(bytes, 4096);
        chain(&h, 1);
    } else if (!strcmp(shape, "dense")) {
        h = carve(bytes, 64);
        dense(&h);
    } else {
        fprintf(stderr, "unknown shape %s\n", shape);
        exit(2);
    }
    uint8_t *cls = map(h.n);
    memtap_range_t root = {(uintptr_t)h.roots, (uintptr_t)(h.roots + h.nroots), 0};
    memtap_leak_stats_t st;
    double wall = 1e9, cpu = 1e9;
    long faults = 0;
    for (int r = 0; r < repeat; r++) { /* the best of repeat runs */
        struct rusage u0, u1;
        getrusage(RUSAGE_SELF, &u0);
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        int rc = memtap_leak_classify(h.blocks, h.n, &root, 1, cls, &st);
        double w1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);
        if (rc) {
            fprintf(stderr, "classify: %d\n", rc);
            exit(1);
        }
        getrusage(RUSAGE_SELF, &u1);
        faults = u1.ru_minflt - u0.ru_minflt; /* first touches of the scratch memory */
        wall = w1 - w0 < wall ? w1 - w0 : wall;
        cpu = c1 - c0 < cpu ? c1 - c0 : cpu;
    }
    printf("%-8s %5zu MiB %9zu blocks of %7zu B: %7.3f s wall %7.3f s cpu | reachable %zu "
           "possible %zu indirect %zu definite %zu | read %.0f MiB in %llu calls, %llu edges, "
           "%llu lazy, scratch %.0f MiB mapped, %ld page faults\n",
           shape, mib, h.n, h.size, wall, cpu, (size_t)st.blocks[1], (size_t)st.blocks[2],
           (size_t)st.blocks[3], (size_t)st.blocks[4], (double)st.heap_bytes / (1 << 20),
           (unsigned long long)st.reads, (unsigned long long)st.edges,
           (unsigned long long)st.lazy_blocks, (double)st.scratch_bytes / (1 << 20), faults);
    fflush(stdout);
    munmap(h.mem, h.n * h.stride + 4096);
    munmap(h.blocks, h.n * sizeof *h.blocks);
    munmap(h.roots, 1 << 20);
    munmap(cls, h.n);
}

int main(int argc, char **argv) {
    const char *shape = argc > 1 ? argv[1] : "all";
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 0;
    repeat = argc > 3 ? atoi(argv[3]) : 1;
    static const char *all[] = {"lists", "rootedlists", "seqlists", "large", "doubles", "dense"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(shape, "all") || !strcmp(shape, all[i]))
            run(all[i], mib ? mib : !strcmp(all[i], "doubles") ? 100 : 1024);
    /* the root set of this process, as the library would build it at exit */
    static memtap_range_t roots[8192];
    double w0 = now(CLOCK_MONOTONIC);
    int n = memtap_leak_roots(roots, 8192, NULL, 0, NULL, 0);
    printf("roots: %d ranges in %.3f ms\n", n, (now(CLOCK_MONOTONIC) - w0) * 1e3);
    return 0;
}
