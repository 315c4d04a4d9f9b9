/* Leaks of every class, each from its own function, known exactly. No stdio: libc
 * allocates nothing of its own; nothing a leaked block's address could stay in (stack
 * slots are overwritten, registers reused), so a conservative scan classifies each the
 * same way every time. Each leaking line is tagged LEAK:<name>.
 *   definite: 3 blocks of 100 bytes (lose_blocks), the head of a lost list (24 bytes)
 *   indirect: the list's other 4 nodes (4 x 24 bytes), the array a lost struct owns (400)
 *   possible: a block reached only through a pointer into its middle (64 bytes)
 *   reachable: 2 blocks of 50 bytes kept by a global */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
    struct node *next;
    long value[2];
};
struct owner {
    int *items;
    long n;
};

void *volatile keep[2];     /* reachable */
char *volatile middle;      /* points into a block: possibly lost */

__attribute__((noinline)) static void lose_blocks(void) {
    for (int i = 0; i < 3; i++) {
        char *p = malloc(100); /* LEAK:blocks */
        memset(p, i, 100);
    }
}

__attribute__((noinline)) static struct node *push(struct node *head, long v) {
    struct node *n = malloc(sizeof *n); /* LEAK:list */
    n->next = head;
    n->value[0] = v;
    return n;
}

__attribute__((noinline)) static void lose_list(void) {
    struct node *head = NULL;
    for (long i = 0; i < 5; i++)
        head = push(head, i);
    head = NULL;
}

__attribute__((noinline)) static void lose_owner(void) {
    struct owner *o = malloc(sizeof *o); /* LEAK:owner */
    o->items = calloc(100, sizeof(int)); /* LEAK:items */
    o->n = 100;
}

__attribute__((noinline)) static void keep_middle(void) {
    char *p = malloc(64); /* LEAK:middle */
    middle = p + 16;
}

__attribute__((noinline)) static void keep_global(void) {
    for (int i = 0; i < 2; i++)
        keep[i] = malloc(50); /* LEAK:global */
}

/* One level below main: what the functions it calls leave on the stack lies below its
 * frame, where scrub's array is. */
__attribute__((noinline)) static void leak_all(void) {
    lose_blocks();
    lose_list();
    lose_owner();
    keep_middle();
    keep_global();
}

/* Overwrites the stack below main's frame, where the functions above left addresses. */
__attribute__((noinline)) static void scrub(void) {
    volatile char junk[4096];
    memset((char *)junk, 0, sizeof junk);
}

int main(int argc, char **argv) {
    leak_all();
    scrub();
    static const char msg[] = "leaky done\n";
    if (write(1, msg, sizeof msg - 1) < 0)
        return 1;
    return argc > 1 ? atoi(argv[1]) : 0;
}
