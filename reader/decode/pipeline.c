/* Reading on two threads: the helper fills batches from the decoder, the caller replays
 * them. Batches go round: free -> filled (helper) -> taken -> free (caller). May call:
 * batch.h, pthreads. */
#include "decode/pipeline.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/errors.h"

#define BATCHES 4 /* enough that neither side waits for the other's jitter */

struct memtap_pipeline {
    memtap_decoder_t *dec;
    memtap_batch_t *batch[BATCHES];
    /* a ring of batches: [taken, filled) are filled and waiting, [filled, taken + BATCHES)
     * are free; counters only grow */
    unsigned long filled, taken;
    int stop; /* the caller wants no more */
    int threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
};

static void *fill_batches(void *arg) {
    memtap_pipeline_t *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->filled == p->taken + BATCHES)
            pthread_cond_wait(&p->changed, &p->lock);
        if (p->stop)
            break;
        memtap_batch_t *b = p->batch[p->filled % BATCHES];
        pthread_mutex_unlock(&p->lock);
        memtap_decoder_fill(p->dec, b);
        pthread_mutex_lock(&p->lock);
        p->filled++;
        pthread_cond_broadcast(&p->changed);
        if (b->rc != MEMTAP_OK || b->end)
            break; /* the last batch */
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int memtap_pipeline_start(memtap_pipeline_t **pp, memtap_decoder_t *dec) {
    memtap_pipeline_t *p = calloc(1, sizeof *p);
    *pp = p;
    if (!p)
        return MEMTAP_ERR_NOMEM;
    p->dec = dec;
    for (int i = 0; i < BATCHES; i++)
        if (!(p->batch[i] = memtap_batch_new()))
            return MEMTAP_ERR_NOMEM;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    /* on one core (taskset, a container's share) the threads would only take turns */
    cpu_set_t cpus;
    int cores = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus)
                                                               : (int)sysconf(_SC_NPROCESSORS_ONLN);
    p->threaded = cores > 1 && pthread_create(&p->thread, NULL, fill_batches, p) == 0;
    return MEMTAP_OK;
}

memtap_batch_t *memtap_pipeline_take(memtap_pipeline_t *p) {
    memtap_batch_t *b = p->batch[p->taken % BATCHES];
    if (!p->threaded) {
        memtap_decoder_fill(p->dec, b);
        return b;
    }
    pthread_mutex_lock(&p->lock);
    while (p->filled == p->taken)
        pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return b;
}

void memtap_pipeline_give(memtap_pipeline_t *p, memtap_batch_t *b) {
    (void)b;
    if (!p->threaded) {
        p->taken++;
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->taken++;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

void memtap_pipeline_stop(memtap_pipeline_t *p) {
    if (!p)
        return;
    if (p->threaded) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->changed);
    }
    for (int i = 0; i < BATCHES; i++)
        memtap_batch_free(p->batch[i]);
    free(p);
}
