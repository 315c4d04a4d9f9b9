/* The lock of the record stream and the stack trie: a futex lock (0 free, 1 held, 2 held
 * with sleepers) whose uncontended lock and unlock are one atomic instruction each, inline.
 * pthread's adaptive mutex spent ~135 instructions a record pair in calls and type checks.
 * Not recursive; safe to try from a signal handler (memtap_trylock). */
#ifndef MEMTAP_PRELOAD_LOCK_H
#define MEMTAP_PRELOAD_LOCK_H

typedef struct {
    int state;
} memtap_lock_t;

#define MEMTAP_LOCK_INIT {0}

void memtap_lock_wait(memtap_lock_t *l); /* contended: spins a little, then sleeps */
void memtap_lock_wake(memtap_lock_t *l);

/* 0 when taken, -1 when held by someone. */
static inline int memtap_trylock(memtap_lock_t *l) {
    int free_state = 0;
    return __atomic_compare_exchange_n(&l->state, &free_state, 1, 0, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED)
               ? 0
               : -1;
}

static inline void memtap_lock(memtap_lock_t *l) {
    if (__builtin_expect(memtap_trylock(l) != 0, 0))
        memtap_lock_wait(l);
}

static inline void memtap_unlock(memtap_lock_t *l) {
    if (__builtin_expect(__atomic_exchange_n(&l->state, 0, __ATOMIC_RELEASE) == 2, 0))
        memtap_lock_wake(l);
}

/* In a fork child: the lock is free whoever held it in the parent. */
static inline void memtap_lock_reset(memtap_lock_t *l) { l->state = 0; }

#endif
