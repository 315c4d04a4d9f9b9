/* A heap whose every instant is known, for the flamegraph's timeline: N blocks of sizes
 * 1, 2, ..., N allocated in order (odd sizes at one call site, even ones at another), a
 * pause, then freed in the same order, a pause, and 3 blocks of 1000 bytes left (leaked).
 * After k allocations the heap holds k blocks and k(k+1)/2 bytes; after j frees, N - j
 * blocks and N(N+1)/2 - j(j+1)/2 bytes. Usage: heap_steps [N] (default 3000, at most
 * 100000). No stdio: libc allocates nothing of its own. */
#include <stdlib.h>
#include <time.h>

#define MAX_BLOCKS 100000
static void *blocks[MAX_BLOCKS + 1];
void *volatile sink;

static void pause_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}

__attribute__((noinline)) static void *odd_block(size_t n) { return malloc(n); /* SITE:odd */ }
__attribute__((noinline)) static void *even_block(size_t n) { return malloc(n); /* SITE:even */ }
__attribute__((noinline)) static void leak(void) { sink = malloc(1000); /* SITE:leak */ }

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 3000;
    if (n < 1 || n > MAX_BLOCKS)
        return 2;
    for (long i = 1; i <= n; i++)
        blocks[i] = i % 2 ? odd_block((size_t)i) : even_block((size_t)i);
    pause_ms(300);
    for (long i = 1; i <= n; i++)
        free(blocks[i]);
    pause_ms(300);
    for (int i = 0; i < 3; i++)
        leak();
    return 0;
}
