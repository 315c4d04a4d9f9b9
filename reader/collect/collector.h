/* The collector of `memtap run`: receives the shared regions of every tracked process of
 * the run (include/memtap/collector.h), drains them and writes the one capture file, then
 * finishes the images of processes that died inside one. Single-threaded: one poll loop. */
#ifndef MEMTAP_READER_COLLECTOR_H
#define MEMTAP_READER_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct memtap_collector memtap_collector_t;

/* Creates the collector's socket, writing its name (for MEMTAP_COLLECTOR) into name, and
 * makes the caller the subreaper of the run. Returns 0, or -1 with errno set. Call before
 * forking the program: the program finds the socket by name. */
int memtap_collector_open(memtap_collector_t **out, char *name, size_t cap);

/* Collects into capture_fd (created by the caller at path; the collector owns it from now
 * on, and reads it back to answer the leak scans of exiting processes) until
 * the root process (the caller's child `root`) has exited and every tracked process has
 * ended, then writes the last pieces. Returns the root's wait status. SIGINT,
 * SIGTERM and SIGHUP received once the root has exited stop the waiting (the images of
 * processes still running end as detached). */
int memtap_collector_run(memtap_collector_t *c, int capture_fd, const char *path, pid_t root);

/* What the run left behind, for the closing message. */
typedef struct {
    uint64_t file_bytes;
    unsigned processes;   /* processes that connected */
    unsigned images;      /* streams written */
    unsigned killed;      /* images whose process died inside them */
    int root_seen;        /* the root process connected (libmemtap.so ran in it) */
    int write_error;      /* errno of a failed write, 0 if none */
} memtap_collector_stats_t;
void memtap_collector_stats(const memtap_collector_t *c, memtap_collector_stats_t *st);

/* Closes the socket and the capture file, frees everything. */
void memtap_collector_close(memtap_collector_t *c);

#endif
