/* Where a capture goes (see capture_file.c). Called at init and in fork children. */
#ifndef MEMTAP_PRELOAD_CAPTURE_FILE_H
#define MEMTAP_PRELOAD_CAPTURE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Test seams: the open(2) and fstat(2) this file makes (libc's unless a test replaced
 * them, to see what is asked for or to fail). */
typedef struct {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*fstat)(int fd, struct stat *st);
} memtap_capture_sys_t;
extern memtap_capture_sys_t memtap_capture_sys;

/* Opens the capture of this process image from MEMTAP_FD / MEMTAP_OUTPUT / MEMTAP_FORCE.
 * Returns the fd, or -1 after saying why on stderr; *flags gets the header flags. */
int memtap_capture_open(uint32_t *flags);

/* Collector mode (memtap run's collector is named in the environment): returns 1 when this
 * process hands its records to it (*flags: the header flags), -1 when it must not be tracked
 * (--no-children and not the program memtap run started), 0 when there is no collector
 * (bare LD_PRELOAD use: memtap_capture_open). */
int memtap_capture_collected(uint32_t *flags);

/* Creates <output>.<pid> for a fork child. Returns the fd, or -1 after saying why. */
int memtap_capture_open_child(void);

/* Writes "MEMTAP_FD=fd:pid:dev:ino" for fd into buf. Returns 0, or -1. */
int memtap_capture_fd_variable(int fd, char *buf, size_t cap);

/* The capture path (for messages), or NULL before init. */
const char *memtap_capture_path(void);

/* 0 when forked children and their descendants must not be tracked (--no-children). */
int memtap_capture_children(void);

#endif
