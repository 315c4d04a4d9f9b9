/* One process's shared region, as the collector sees it (include/memtap/collector.h): its
 * ring drained into the current image's stream, the image's end recognised (source 0's
 * closing CHUNK), and, when the process dies inside an image, the records it had not
 * flushed taken from its buffers. Everything read from the region is bounds-checked: a
 * process may write anything there. */
#ifndef MEMTAP_READER_REGION_H
#define MEMTAP_READER_REGION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collect/pieces.h"
#include "memtap/collector.h"

typedef struct {
    uint8_t *base; /* the mapping (MEMTAP_SHM_SIZE bytes) */
    memtap_shm_control_t *ctl;
    pid_t pid;
    int root;                     /* the process memtap run started */
    memtap_piece_stream_t stream; /* the current image's */
    int stream_open;              /* an image started and its last piece is not written */
    uint32_t image;               /* the writer's number of the image under way */
    uint64_t *received;           /* per source: bytes in the current image's CHUNKs */
    uint32_t nreceived;
    int broken;       /* the ring held garbage: nothing more is read */
    uint8_t *scratch; /* an item that wraps around the ring's end */
    char error[160];  /* why the region broke */
} memtap_region_t;

/* Maps the region behind fd (which the caller closes afterwards) for process pid.
 * Returns 0, or -1 with r->error set. */
int memtap_region_map(memtap_region_t *r, int fd, pid_t pid, int root);

/* Takes every item published since the last call into the image streams. Returns the
 * number of bytes taken (0: nothing new), or -1 when the region broke (r->error). */
long memtap_region_drain(memtap_region_t *r, memtap_piece_file_t *f);

/* The process has ended. If its current image did not end, the records it had committed
 * but not flushed are taken from its buffers, and the image's last piece says it was
 * killed (status: the signal, 0 when unknown). */
void memtap_region_finish(memtap_region_t *r, memtap_piece_file_t *f, int status);

/* 1 while an image of the region is open (not ended by its own closing CHUNK). */
static inline int memtap_region_in_image(const memtap_region_t *r) { return r->stream_open; }

/* Unmaps the region and frees what it holds. */
void memtap_region_free(memtap_region_t *r);

#endif
