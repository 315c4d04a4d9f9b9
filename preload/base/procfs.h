/* Small reads of /proc (no allocation: safe inside the hooks). */
#ifndef MEMTAP_PRELOAD_PROCFS_H
#define MEMTAP_PRELOAD_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* Reads up to cap bytes of path into buf; returns how many (0 on any failure). */
size_t memtap_read_file(const char *path, char *buf, size_t cap);

/* The process's resident set size in bytes (0 when unknown). */
uint64_t memtap_rss_bytes(void);

#endif
