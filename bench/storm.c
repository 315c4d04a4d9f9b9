/* Allocation storm for `make bench`: mixed sizes (16 B to 4 KiB), stacks 5 to 40 frames
 * deep along 256 recurring call paths, a ring of live blocks so frees hit old and new
 * blocks alike. usage: storm [allocations] [threads] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define RING 4096
#define PER_LEAF 16

typedef struct {
    uint64_t rng;
    void *ring[RING];
    long remaining;
    unsigned path;
} state_t;

static uint32_t next(state_t *s) {
    s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(s->rng >> 33);
}

__attribute__((noinline)) static void leaf(state_t *s) {
    for (int i = 0; i < PER_LEAF; i++) {
        uint32_t idx = next(s) % RING;
        free(s->ring[idx]);
        s->ring[idx] = malloc(16 + next(s) % 4081);
    }
    s->remaining -= PER_LEAF;
}

static void step(state_t *s, int depth);

/* Three functions so the 256 paths make distinct stacks; the volatile add after each call
 * keeps the compiler from turning the recursion into jumps. */
static volatile int keep;
__attribute__((noinline)) static void walk_a(state_t *s, int d) { step(s, d - 1); keep += d; }
__attribute__((noinline)) static void walk_b(state_t *s, int d) { step(s, d - 1); keep += d; }
__attribute__((noinline)) static void walk_c(state_t *s, int d) { step(s, d - 1); keep += d; }

static void step(state_t *s, int depth) {
    if (depth <= 0) {
        leaf(s);
        return;
    }
    switch ((s->path >> (depth % 8)) % 3) {
    case 0: walk_a(s, depth); break;
    case 1: walk_b(s, depth); break;
    default: walk_c(s, depth); break;
    }
}

static void *storm(void *arg) {
    state_t *s = arg;
    while (s->remaining > 0) {
        s->path = next(s) % 256;
        step(s, 5 + (int)(s->path % 36));
    }
    for (int i = 0; i < RING; i++)
        free(s->ring[i]);
    return NULL;
}

int main(int argc, char **argv) {
    long total = argc > 1 ? atol(argv[1]) : 12000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (threads < 1 || threads > 64)
        return 2;
    static state_t states[64];
    pthread_t th[64];
    for (int t = 0; t < threads; t++) {
        states[t].rng = 42 + (uint64_t)t;
        states[t].remaining = total / threads;
        pthread_create(&th[t], NULL, storm, &states[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    printf("storm: %ld allocations in %d thread%s\n", total, threads, threads == 1 ? "" : "s");
    return 0;
}
