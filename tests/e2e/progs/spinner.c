/* Allocates N blocks (argv[1], default 5000) of 64 bytes, says "ready" on stdout, then
 * computes without allocating or blocking until it is killed: what a tracker buffered
 * must survive a quiet SIGKILL. */
#include <stdio.h>
#include <stdlib.h>

void *volatile sink;

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    for (int i = 0; i < n; i++)
        sink = malloc(64); /* LEAK:spin */
    printf("ready\n");
    fflush(stdout);
    volatile unsigned long x = 0;
    for (;;)
        x++;
}
