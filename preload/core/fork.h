/* fork (fork.c): every lock memtap has is held across the fork, so the child starts with
 * consistent state; a tracked child starts a capture of its own (<output>.<pid>). */
#ifndef MEMTAP_PRELOAD_FORK_H
#define MEMTAP_PRELOAD_FORK_H

/* At init, once, with tracking on: installs the pthread_atfork handlers. */
void memtap_fork_install(void);

#endif
