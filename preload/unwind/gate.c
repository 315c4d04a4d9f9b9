/* Fork-safe unwinding: per-thread busy flags (Dekker style) with a rwlock for the rest. */
#include "unwind/gate.h"

#include <pthread.h>
#include <sched.h>

#define SLOTS 1024

typedef struct {
    _Alignas(64) int busy; /* this thread is unwinding */
    int used;              /* owned by a live thread */
} slot_t;

static slot_t slots[SLOTS];
static int closed; /* a fork is waiting or in progress */
/* Threads without a slot (more than SLOTS at once) read-lock this instead, fork write-locks
 * it; and threads that meet a closed gate wait on it. Writers first: forks are not starved. */
static pthread_rwlock_t fallback = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static __thread slot_t *tls_slot __attribute__((tls_model("initial-exec")));
static __thread int tls_no_slot __attribute__((tls_model("initial-exec")));

static slot_t *my_slot(void) {
    if (tls_slot || tls_no_slot)
        return tls_slot;
    for (int i = 0; i < SLOTS; i++) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&slots[i].used, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            return tls_slot = &slots[i];
    }
    tls_no_slot = 1;
    return NULL;
}

void memtap_gate_enter(void) {
    slot_t *s = my_slot();
    if (!s) {
        pthread_rwlock_rdlock(&fallback);
        return;
    }
    for (;;) {
        __atomic_store_n(&s->busy, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_load_n(&closed, __ATOMIC_SEQ_CST))
            return; /* fork will see busy and wait for us */
        __atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
        pthread_rwlock_rdlock(&fallback); /* blocks until the fork is over */
        pthread_rwlock_unlock(&fallback);
    }
}

void memtap_gate_leave(void) {
    if (tls_slot)
        __atomic_store_n(&tls_slot->busy, 0, __ATOMIC_RELEASE);
    else
        pthread_rwlock_unlock(&fallback);
}

void memtap_gate_close(void) {
    pthread_rwlock_wrlock(&fallback);
    __atomic_store_n(&closed, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < SLOTS; i++)
        while (__atomic_load_n(&slots[i].busy, __ATOMIC_SEQ_CST))
            sched_yield();
}

void memtap_gate_open(void) {
    __atomic_store_n(&closed, 0, __ATOMIC_SEQ_CST);
    pthread_rwlock_unlock(&fallback);
}

void memtap_gate_reset(void) {
    /* the child has one thread: the one that forked, which was not unwinding */
    closed = 0;
    fallback = (pthread_rwlock_t)PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
    for (int i = 0; i < SLOTS; i++) {
        slots[i].busy = 0;
        if (&slots[i] != tls_slot)
            slots[i].used = 0;
    }
}

void memtap_gate_thread_exit(void) {
    slot_t *s = tls_slot;
    tls_slot = NULL;
    if (s)
        __atomic_store_n(&s->used, 0, __ATOMIC_RELEASE);
}
