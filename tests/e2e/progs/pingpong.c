/* Blocks allocated by one thread and freed by another while the first keeps allocating:
 * glibc hands the freed addresses back to the producer, so addresses are reused across
 * threads all the time. Replayed in the wrong order, a reuse would come before its free.
 * usage: pingpong [blocks per producer] */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#define PAIRS 2
#define RING 256

typedef struct {
    void *ring[RING];
    unsigned long head, tail; /* head: written by the producer, tail: by the consumer */
    long blocks;
} pipe_t;

static pipe_t pipes[PAIRS];
void *volatile sink;

__attribute__((noinline)) static void *producer(void *arg) {
    pipe_t *p = arg;
    for (long i = 0; i < p->blocks; i++) {
        while (__atomic_load_n(&p->head, __ATOMIC_RELAXED) -
                   __atomic_load_n(&p->tail, __ATOMIC_ACQUIRE) == RING)
            sched_yield();
        p->ring[p->head % RING] = malloc(24 + (size_t)(i % 5) * 8); /* PINGPONG:produce */
        __atomic_store_n(&p->head, p->head + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

__attribute__((noinline)) static void *consumer(void *arg) {
    pipe_t *p = arg;
    for (long i = 0; i < p->blocks; i++) {
        while (__atomic_load_n(&p->head, __ATOMIC_ACQUIRE) == p->tail)
            sched_yield();
        free(p->ring[p->tail % RING]);
        __atomic_store_n(&p->tail, p->tail + 1, __ATOMIC_RELEASE);
        if (i % 64 == 0) {
            sink = malloc(40); /* PINGPONG:consume */
            free(sink);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    long blocks = argc > 1 ? atol(argv[1]) : 100000;
    pthread_t th[2 * PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        pipes[i].blocks = blocks;
        pthread_create(&th[2 * i], NULL, producer, &pipes[i]);
        pthread_create(&th[2 * i + 1], NULL, consumer, &pipes[i]);
    }
    for (int i = 0; i < 2 * PAIRS; i++)
        pthread_join(th[i], NULL);
    return 0;
}
