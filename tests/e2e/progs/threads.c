/* Threads allocating at once, blocks freed by other threads, and per-thread leaks. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define THREADS 4
#define PER_THREAD 5000
#define LEAKS_PER_THREAD 7

void *volatile sink;
static void *handoff[THREADS][PER_THREAD];

__attribute__((noinline)) static void *worker(void *arg) {
    long t = (long)arg;
    for (int i = 0; i < PER_THREAD; i++)
        handoff[t][i] = malloc(64 + (size_t)t); /* FREED_BY_MAIN */
    for (int i = 0; i < LEAKS_PER_THREAD; i++)
        sink = malloc(1000); /* LEAK:worker */
    return NULL;
}

int main(void) {
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++)
            free(handoff[t][i]); /* cross-thread frees */
    return 0;
}
