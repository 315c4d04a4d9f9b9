/* The record stream of the current image (format v3): the process's own records
 * (source 0: modules, threads, stack nodes, time markers...) appended under the record lock,
 * the threads' buffers (tbuf.h), and the staging buffer where both become CHUNKs for the LZ4
 * sink, under the sink lock. Lock order: record lock, then sink lock; a thread flushing its
 * own buffer takes the sink lock alone. */
#ifndef MEMTAP_PRELOAD_STREAM_H
#define MEMTAP_PRELOAD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "base/lock.h"
#include "output/record.h"
#include "output/sink.h"
#include "output/tbuf.h"

extern memtap_lock_t memtap_stream_lock;
extern memtap_enc_t memtap_stream; /* the encoder of source 0's records; lock held */

/* Test seam: the write(2) of the sinks memtap_stream_open starts from then on (NULL:
 * write). Only tests set it, to make a disk fill up. */
extern memtap_write_fn memtap_stream_write;

/* Maps the buffers (collector mode: points source 0's buffer into the shared region; called
 * again in a fork child once it has a region of its own). Returns 0, or -1 (errno set). */
int memtap_stream_init(void);

/* Starts a new LZ4 frame on fd whose content starts with the header h. Record lock held
 * (or a single thread). Returns 0, or -1 with *err set. */
int memtap_stream_open(int fd, const memtap_header_info_t *h, int *err);

/* Collector mode: tells the collector how much of source 0's buffer is whole records (so a
 * crash loses none of them). Record lock held; called as it is let go. */
void memtap_stream_publish(void);

/* Releases the record lock, publishing source 0's records first (memtap_stream_publish). */
static inline void memtap_stream_unlock(void) {
    memtap_stream_publish();
    memtap_unlock(&memtap_stream_lock);
}

/* The capture's file descriptor (-1 in collector mode). */
int memtap_stream_fd(void);

/* Makes room for n more bytes (n <= 4 KiB) of source 0's records and gives the next one
 * its key (the order counter now). Lock held. Returns 0, or -1 when tracking is off. */
int memtap_stream_reserve(size_t n);

/* Gives source 0's next record a key above every record already written by any thread
 * (the end of an image). Room reserved. */
void memtap_stream_stamp_last(void);

/* Appends encoded records of source 0 (module maps), any length. Lock held. */
int memtap_stream_append(const uint8_t *p, size_t n);

/* Pushes everything recorded so far, all threads' buffers included, to the file (LZ4 block
 * flush). Record lock held. With wait == 0 (signal handlers) gives up when the sink is busy. */
int memtap_stream_flush(int wait);

/* The calling thread's buffer: registered as thread `index` (record lock held); written
 * out because it is full (no lock held); written out for good as the thread ends. */
void memtap_stream_register(memtap_tbuf_t *b, uint32_t index, uint32_t image);
int memtap_stream_flush_own(memtap_tbuf_t *b);
void memtap_stream_thread_done(memtap_tbuf_t *b);

/* Ends the image: the threads' buffers are written a last time (their later records are
 * dropped), then the caller appends its last records of source 0 (it may read the totals),
 * then memtap_stream_end compresses the rest. Record lock held throughout. */
void memtap_stream_close_threads(uint64_t *allocations, uint64_t *frees);
int memtap_stream_end(void);

/* Fork: the sink lock is held across fork (after the record lock); in the child the locks
 * are reinitialised, other threads' buffers and the parent's compression state dropped. */
void memtap_stream_lock_sink(void);
void memtap_stream_unlock_sink(void);
void memtap_stream_after_fork(void);

#endif
