/* Names for the native frames of a thread's walks (versions.c): a version is one word that
 * stands exactly for a sequence of frames from the outermost one inwards, so a memo key
 * (memo.h) can carry a whole native stack as one word. Under Python most of a walk's frames
 * are the interpreter's outer ones, unchanged from walk to walk; the unwinder tells how many
 * of them a walk shares with the thread's previous walk (same_outer), and those keep the
 * versions they had without being read. Per thread: no lock, no atomics. */
#ifndef MEMTAP_PRELOAD_VERSIONS_H
#define MEMTAP_PRELOAD_VERSIONS_H

#include <stdint.h>

/* Deepest walk versioned, in frames. */
#define MEMTAP_VERSIONS_DEPTH 256

/* Whether the thread's table holds versions for the previous walk's same_outer outermost
 * frames, so that memtap_versions_of_walk need not read them (they may be left unwritten).
 * Not after memtap_versions_forget, a walk too deep to version, or before the thread's first
 * versioned walk, though the unwinder may still vouch for them: then they must be written. */
int memtap_versions_vouched(int same_outer);

/* The version of frames[0..n) (innermost first), a walk whose same_outer outermost frames
 * are those of the thread's previous walk; 0 when there is none (no frames, a walk deeper
 * than MEMTAP_VERSIONS_DEPTH, no memory, or after the thread's exit). Equal versions mean
 * equal frames. Reads frames[n - same_outer, n) too unless memtap_versions_vouched said so.
 * Every walk of the thread must come here or to memtap_versions_forget: same_outer vouches
 * for the previous walk's frames. Maps the thread's table on first use. */
uint64_t memtap_versions_of_walk(const uint64_t *frames, int n, int same_outer);

/* A walk of the thread that was not versioned: the next one's same_outer vouches for
 * nothing versioned. */
void memtap_versions_forget(void);

/* Thread exit: unmaps the thread's table; the thread maps none again. */
void memtap_versions_thread_exit(void);

#endif
