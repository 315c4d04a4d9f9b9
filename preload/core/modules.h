/* Module maps: the loaded ELF objects with load bias, build-id and PT_LOAD segments, so the
 * reader can symbolize instruction pointers offline. */
#ifndef MEMTAP_PRELOAD_MODULES_H
#define MEMTAP_PRELOAD_MODULES_H

#include "output/record.h"

/* Encodes MODULES_RESET followed by one MODULE record per loaded object into scratch, whose
 * buffer comes from mmap and grows as needed. Returns 0, or -1 when memory runs out.
 * Must be called without the tracker lock held (dl_iterate_phdr takes the loader lock). */
int memtap_modules_encode(memtap_enc_t *scratch);

/* Releases the scratch buffer. */
void memtap_modules_scratch_free(memtap_enc_t *scratch);

#endif
