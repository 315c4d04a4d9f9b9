/* Fatal and terminating signals (signals.c): what is buffered reaches the file before the
 * default action ends the process. */
#ifndef MEMTAP_PRELOAD_SIGNALS_H
#define MEMTAP_PRELOAD_SIGNALS_H

/* At init, once: handles SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM, SIGINT, SIGQUIT
 * and SIGHUP where they are left at their default action. A handler the program installs
 * later replaces ours. */
void memtap_signals_install(void);

#endif
