/* The unwind gate: once close() returns, no thread is between enter() and leave() until
 * open(); threads meeting a closed gate wait, then go on. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "unwind/gate.h"

#define THREADS 4
static int inside, gate_is_closed, violations, stop;
static long entries;

static void *unwinder(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        memtap_gate_enter();
        __atomic_add_fetch(&inside, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&gate_is_closed, __ATOMIC_SEQ_CST))
            __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&entries, 1, __ATOMIC_RELAXED);
        for (int k = 0; k < 100; k++) /* a while inside, as an unwind is */
            __builtin_ia32_pause();
        __atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
        memtap_gate_leave();
        /* then a while outside: four threads spinning on two busy cores made each round
         * wait for the scheduler, and the test take a minute */
        struct timespec ts = {0, 10000};
        nanosleep(&ts, NULL);
    }
    memtap_gate_thread_exit();
    return NULL;
}

Test(gate, close_waits_for_every_thread_inside, .timeout = 60) {
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, unwinder, NULL);
    for (int round = 0; round < 2000; round++) {
        memtap_gate_close();
        __atomic_store_n(&gate_is_closed, 1, __ATOMIC_SEQ_CST);
        cr_assert_eq(__atomic_load_n(&inside, __ATOMIC_SEQ_CST), 0, "inside a closed gate");
        /* the threads get the cores whatever else the machine runs (50 sched_yields did not) */
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
        cr_assert_eq(__atomic_load_n(&inside, __ATOMIC_SEQ_CST), 0);
        __atomic_store_n(&gate_is_closed, 0, __ATOMIC_SEQ_CST);
        memtap_gate_open();
        sched_yield();
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(violations, 0);
    cr_assert_gt(entries, 0, "the threads went through the gate");
}
