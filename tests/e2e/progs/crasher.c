/* Allocates known blocks, renames its thread after the first one (a THREAD_NAME record),
 * then dies of a segmentation fault within milliseconds. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

void *volatile sink;
int *volatile nowhere;

int main(void) {
    for (int i = 0; i < 10; i++) {
        sink = malloc(1234); /* LEAK:crasher */
        if (i == 0)
            pthread_setname_np(pthread_self(), "crash-main");
    }
    *nowhere = 1;
    return 0;
}
