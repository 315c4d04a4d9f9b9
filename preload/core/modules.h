/* Module maps (modules.c): the loaded ELF objects with load bias, build-id and PT_LOAD
 * segments, written as MODULES_RESET and MODULE records (source 0) at the start of an image
 * and after each dlopen or dlclose, so the reader can symbolize instruction pointers
 * offline. */
#ifndef MEMTAP_PRELOAD_MODULES_H
#define MEMTAP_PRELOAD_MODULES_H

/* Writes the current module map to the stream. Takes the modules lock, then the record lock
 * (unless take_record_lock is 0: a fork child, the only thread). Must be called without the
 * record lock held: dl_iterate_phdr takes the loader's lock. Out of memory disables
 * tracking. Guard raised. */
void memtap_modules_write(int take_record_lock);

/* After dlopen/dlclose: writes the new module map. Guard raised. */
void memtap_track_modules_changed(void);

/* The modules lock around fork (taken first, before the trie lock); reset in the child. */
void memtap_modules_lock(void);
void memtap_modules_unlock(void);
void memtap_modules_after_fork(void);

#endif
