/* Diagnostics from inside the host process: one line on stderr, written with write(2)
 * from a stack buffer, never allocating. */
#ifndef MEMTAP_PRELOAD_LOG_H
#define MEMTAP_PRELOAD_LOG_H

/* Writes "memtap: <what>[: <detail>][: strerror(err)]\n" to fd 2. detail may be NULL,
 * err 0 for none. Safe inside malloc and after fork; preserves errno. */
void memtap_log(const char *what, const char *detail, int err);

/* The same line without "tracking is off": for a failure that costs only part of the
 * capture. */
void memtap_note(const char *what, const char *detail, int err);

#endif
