/* The leak scan at the end of a process (exit_scan.c). */
#ifndef MEMTAP_PRELOAD_EXIT_SCAN_H
#define MEMTAP_PRELOAD_EXIT_SCAN_H

#include <stdint.h>

/* Between the image's EXIT and its trailer, in collector mode: flushes what the image
 * recorded, asks memtap run's collector for the blocks still live, scans the process's
 * memory (leaks.h) and appends LEAK_SCAN and LEAK_CLASSES records to source 0. Record lock
 * held, no record of any thread can start (the image is closing). Does nothing when not
 * collected, when MEMTAP_LEAK_SCAN is "0", or when anything fails (one line on stderr;
 * the capture then has no classes). Never mallocs. The calling thread's stack below
 * memtap_cfa (the stack pointer where the program called into memtap: memtap's own frames,
 * whose unused slots still hold addresses from earlier hooks) is not a root; 0: all of it
 * from the scan's caller up is. */
void memtap_leak_scan_at_exit(uintptr_t memtap_cfa);

#endif
