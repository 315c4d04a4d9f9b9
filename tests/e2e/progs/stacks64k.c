/* 65,536 distinct allocation stacks: 16 levels of recursion, each level calling the next
 * from one of two call sites chosen by a bit of the stack's number, then one allocation
 * of 16 + (number % 64) bytes; every other block is freed. For the flamegraph's large
 * captures (page size, load and generation times). Usage: stacks64k [BITS] (default 16). */
#include <stdlib.h>

void *volatile sink;
static void *keep[1 << 20];

__attribute__((noinline)) static void *level(int depth, unsigned bits, unsigned number) {
    if (depth == 0)
        return malloc(16 + number % 64);
    if (bits & 1)
        return level(depth - 1, bits >> 1, number); /* one call site */
    return level(depth - 1, bits >> 1, number);     /* the other */
}

int main(int argc, char **argv) {
    int depth = argc > 1 ? atoi(argv[1]) : 16;
    if (depth < 1 || depth > 20)
        return 2;
    unsigned n = 1u << depth;
    for (unsigned i = 0; i < n; i++)
        keep[i] = level(depth, i, i);
    for (unsigned i = 0; i < n; i += 2)
        free(keep[i]);
    sink = keep[1];
    return 0;
}
