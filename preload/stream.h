/* The record stream of the current capture: the buffer every thread appends encoded records
 * to, under one lock, in the order events happen; and the hand-over of full buffers to the
 * LZ4 sink. Compression runs outside the record lock, under the sink lock (taken while the
 * record lock is held, so buffers reach the file in order), while a second buffer takes new
 * records. Lock order: record lock, then sink lock. */
#ifndef MEMTAP_PRELOAD_STREAM_H
#define MEMTAP_PRELOAD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "lock.h"
#include "record.h"

extern memtap_lock_t memtap_stream_lock;
extern memtap_enc_t memtap_stream; /* the encoder of the current buffer; lock held */

/* Maps the two record buffers. Returns 0, or -1 (errno set). Called once, at init. */
int memtap_stream_init(void);

/* Starts a new LZ4 frame on fd with an empty buffer and fresh delta state. Lock held (or a
 * single thread). Returns 0, or -1 with *err set. */
int memtap_stream_open(int fd, int *err);

/* The capture's file descriptor. */
int memtap_stream_fd(void);

/* Makes room for n more bytes (n <= 64 KiB). Lock held. When the buffer is full it is
 * handed to the sink and the lock is released while it is compressed: a caller that needs
 * two records with nothing between them reserves room for both first. Returns 0, or -1
 * when tracking is off. */
int memtap_stream_reserve(size_t n);

/* Appends raw encoded bytes (module maps), any length, with nothing else in between: full
 * buffers are compressed without releasing the lock. Lock held. */
int memtap_stream_append(const uint8_t *p, size_t n);

/* Pushes everything appended so far to the file (LZ4 block flush). Lock held; released
 * meanwhile. With wait == 0 (signal handlers) gives up when the sink is busy. */
int memtap_stream_flush(int wait);

/* Compresses the rest and ends the frame. Lock held throughout: nothing can follow. */
int memtap_stream_end(void);

/* In a fork child: the locks are reinitialised and the parent's compression state dropped
 * (the caller then opens a stream of its own). */
void memtap_stream_after_fork(void);

#endif
