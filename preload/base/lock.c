/* Contended paths of the futex lock (Drepper, "Futexes Are Tricky", mutex 2). */
#include "base/lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPINS 100 /* a record is written in well under a microsecond: wait that long awake */

void memtap_lock_wait(memtap_lock_t *l) {
    for (int i = 0; i < SPINS; i++) {
        __builtin_ia32_pause();
        if (__atomic_load_n(&l->state, __ATOMIC_RELAXED) == 0 && memtap_trylock(l) == 0)
            return;
    }
    int saved = errno; /* futex may set it; the program's errno is not ours to change */
    while (__atomic_exchange_n(&l->state, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    errno = saved;
}

void memtap_lock_wake(memtap_lock_t *l) {
    int saved = errno;
    syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}
