/* The live blocks of a process's current image, for its leak scan at exit (live.c). */
#ifndef MEMTAP_READER_LIVE_H
#define MEMTAP_READER_LIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "memtap/collector.h"

/* Replays the last process with pid `pid` in the capture at path (as written so far: the
 * caller writes the image's pending bytes as a piece first) and writes the blocks its
 * current image still holds into out, sorted by address (at most cap). Returns how many,
 * or -1 (err says why). */
long memtap_collect_live(const char *path, pid_t pid, memtap_shm_block_t *out, size_t cap,
                         char *err, size_t err_cap);

#endif
