/* A large live heap for measuring the leak scan at exit (docs/performance.md, "Leak scan
 * at exit"): bigheap SIZE TOTAL allocates TOTAL bytes in blocks of SIZE bytes, writes each
 * (so the scan reads real pages), keeps them all from a global array (still reachable),
 * and exits normally. Not run by make test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void **blocks; /* reachable until exit */

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bigheap SIZE TOTAL\n");
        return 2;
    }
    size_t size = strtoull(argv[1], NULL, 0), total = strtoull(argv[2], NULL, 0);
    size_t n = total / size;
    blocks = malloc(n * sizeof *blocks);
    if (!blocks)
        return 1;
    for (size_t i = 0; i < n; i++) {
        blocks[i] = malloc(size);
        if (!blocks[i])
            return 1;
        memset(blocks[i], (int)(i & 0x7f), size);
    }
    printf("%zu blocks of %zu bytes\n", n, size);
    return 0;
}
