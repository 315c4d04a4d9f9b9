/* Allocations known exactly, through every allocator memtap wraps. Output uses write(2),
 * not stdio, so libc allocates nothing of its own. Pointers escape through `sink` so the
 * compiler keeps every call. Each leaking line is tagged LEAK:<name>. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *volatile sink;

__attribute__((noinline)) static void leak_malloc(void) {
    for (int i = 0; i < 3; i++)
        sink = malloc(100); /* LEAK:malloc */
}

__attribute__((noinline)) static void leak_calloc(void) {
    for (int i = 0; i < 2; i++)
        sink = calloc(10, 20); /* LEAK:calloc */
}

__attribute__((noinline)) static void leak_realloc_chain(void) {
    char *p = malloc(10);
    p = realloc(p, 20);
    p = realloc(p, 4000);
    p = realloc(p, 100000); /* LEAK:realloc */
    sink = p;
}

__attribute__((noinline)) static void leak_aligned(void) {
    void *p;
    if (posix_memalign(&p, 64, 256) == 0) /* LEAK:posix_memalign */
        sink = p;
    sink = aligned_alloc(128, 512); /* LEAK:aligned_alloc */
    sink = memalign(32, 48);        /* LEAK:memalign */
    sink = valloc(1000);            /* LEAK:valloc */
    sink = reallocarray(NULL, 10, 30); /* LEAK:reallocarray */
    sink = pvalloc(100);            /* LEAK:pvalloc: one whole page */
}

/* glibc serves this from an mmap of its own: it must count once, as malloc */
__attribute__((noinline)) static void leak_big(void) {
    sink = malloc(1 << 20); /* LEAK:big */
}

__attribute__((noinline)) static void leak_mmap(void) {
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)page * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* LEAK:mmap */
    munmap(m + page * 2, (size_t)page); /* keep two pages */
    sink = m;
    char *gone = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, (size_t)page);
}

__attribute__((noinline)) static void no_leaks(void) {
    for (int i = 0; i < 1000; i++) {
        char *p = malloc(32);
        sink = p;
        free(p);
    }
    void *a = calloc(4, 8);
    sink = a;
    free(a);
    char *r = malloc(8);
    r = realloc(r, 16);
    sink = r;
    free(r);
    free(NULL);
}

int main(void) {
    leak_malloc();
    leak_calloc();
    leak_realloc_chain();
    leak_aligned();
    leak_mmap();
    leak_big();
    no_leaks();
    static const char msg[] = "known_leaks done\n";
    if (write(1, msg, sizeof msg - 1) < 0)
        return 1;
    return 0;
}
