/* The changing-path storm for `make bench`: every allocation takes a new call path (one of
 * 64 patterns, a random depth of 5 to 40, one of 5 allocation sites: about 11,000 distinct
 * stacks), sizes 16 B to 4 KiB, a working set of 10,000 live blocks. Unlike storm.c, no
 * two allocations in a row share a stack, so a tracker gets no help from repetition.
 * usage: paths [allocations] [threads] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LIVE 10000
#define PATTERNS 64
#define FUNCS 8

typedef struct {
    uint64_t rng;
    void *live[LIVE];
    unsigned pattern;
} state_t;

static uint32_t next(state_t *s) {
    s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(s->rng >> 33);
}

static void put(state_t *s, void *p) {
    uint32_t i = next(s) % LIVE;
    free(s->live[i]);
    s->live[i] = p;
}

/* five allocation sites */
__attribute__((noinline)) static void site0(state_t *s) { put(s, malloc(16 + next(s) % 4081)); }
__attribute__((noinline)) static void site1(state_t *s) { put(s, malloc(16 + next(s) % 4081)); }
__attribute__((noinline)) static void site2(state_t *s) { put(s, malloc(16 + next(s) % 4081)); }
__attribute__((noinline)) static void site3(state_t *s) { put(s, malloc(16 + next(s) % 4081)); }
__attribute__((noinline)) static void site4(state_t *s) { put(s, malloc(16 + next(s) % 4081)); }
static void (*const sites[5])(state_t *) = {site0, site1, site2, site3, site4};

static void step(state_t *s, int depth);

/* FUNCS walkers, each its own return addresses; the volatile add after each call keeps the
 * compiler from turning the recursion into jumps */
static volatile int keep;
#define WALKER(n) \
    __attribute__((noinline)) static void walk##n(state_t *s, int d) { step(s, d - 1); keep += d; }
WALKER(0) WALKER(1) WALKER(2) WALKER(3) WALKER(4) WALKER(5) WALKER(6) WALKER(7)
static void (*const walkers[FUNCS])(state_t *, int) = {walk0, walk1, walk2, walk3,
                                                       walk4, walk5, walk6, walk7};

static void step(state_t *s, int depth) {
    if (depth <= 0) {
        sites[s->pattern % 5](s);
        return;
    }
    /* the walker at each depth follows from the pattern: 64 families of paths */
    walkers[(s->pattern * 2654435761u >> (depth % 24)) % FUNCS](s, depth);
}

static long per_thread;

static void *run(void *arg) {
    state_t *s = arg;
    for (long i = 0; i < per_thread; i++) {
        uint32_t r = next(s);
        s->pattern = r % (PATTERNS * 5);
        step(s, 5 + (int)((r >> 12) % 36));
    }
    for (int i = 0; i < LIVE; i++)
        free(s->live[i]);
    return NULL;
}

int main(int argc, char **argv) {
    long total = argc > 1 ? atol(argv[1]) : 4000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (threads < 1 || threads > 64)
        return 2;
    static state_t states[64];
    pthread_t th[64];
    per_thread = total / threads;
    for (int t = 0; t < threads; t++) {
        states[t].rng = 7 + (uint64_t)t;
        pthread_create(&th[t], NULL, run, &states[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    printf("paths: %ld allocations in %d thread%s\n", per_thread * threads, threads,
           threads == 1 ? "" : "s");
    return 0;
}
