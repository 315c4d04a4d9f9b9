/* Python stacks: at an allocation, the calling thread's Python frames read from the
 * interpreter's own frame chain (pylayout.h says where each version keeps it), as tagged
 * stack entries for the stack trie. Nothing runs when Python calls a function: the frames
 * cost something only when memory is allocated. Code objects are named by pycode.c. */
#ifndef MEMTAP_PRELOAD_PYSTACK_H
#define MEMTAP_PRELOAD_PYSTACK_H

#include <stdint.h>

#include "memtap/format.h"

/* Python frames an allocation stack may carry (the innermost ones are kept). */
#define MEMTAP_PY_MAX_FRAMES 256

/* Starts reading the frames of every thread of the interpreter whose Py_GetVersion() this
 * is. Returns 0, or -1 when memtap does not know where this version keeps its frames (no
 * Python frames then). Once, GIL held, after the PyMem wrappers are in place (they report
 * the frees of code objects). */
int memtap_pystack_start(const char *version);

/* The interpreter is being torn down: thread states are freed, also those of threads that
 * still run C code. From now on only the calling thread (the one finalizing) reads its
 * frames. */
void memtap_pystack_stop_others(void);

/* Whether the calling thread runs Python now: 0 when not, else nonzero (1; not a count,
 * the frames are read by memtap_pystack_frames). Finds the thread's innermost frame and
 * keeps it for the memtap_pystack_frames call that must follow on the same thread. Safe
 * inside an allocator hook (guard raised), with or without the GIL. */
int memtap_pystack_depth(void);

/* Writes the calling thread's Python frames, innermost first, into out[0..room) and
 * returns how many: read from the innermost frame memtap_pystack_depth just found (0 when
 * it was not called just before). Safe inside an allocator hook (guard raised): calls no
 * Python API that allocates or needs the GIL. */
int memtap_pystack_frames(uint64_t *out, int room);

/* The raw key of the calling thread's Python stack, for the memo of stacks (stack/memo.h):
 * what memtap_pystack_frames would read, as (code object, instruction) words, 2 a frame,
 * innermost first; *hash (the hash of the words before them) goes on over them, frame by
 * frame; *epoch gets the code epoch the key is valid in. Returns the words written, or -1
 * when the stack has no key that fits in cap words (the frames are then read as usual).
 * Reads the frame memtap_pystack_depth found, without using it up. */
int memtap_pystack_key(uint64_t *key, int cap, uint64_t *hash, uint32_t *epoch);

/* The frames memtap_pystack_depth found are not wanted (the memo had the stack). */
void memtap_pystack_skip(void);

/* Whether the last memtap_pystack_frames call gave every frame (none left out for want of
 * memory): only such a stack may go into the memo. */
int memtap_pystack_was_whole(void);

/* Name, file and first line of an interned code object (NULL when id is unknown). Safe
 * anywhere, no lock. */
typedef struct {
    const char *qualname, *filename;
    uint32_t qualname_len, filename_len, firstline;
    uint32_t emitted_image; /* the image (memtap_image_seq) whose stream has its PY_CODE */
} memtap_py_code_t;
memtap_py_code_t *memtap_pystack_code(uint64_t id);

/* Thread exit: releases the thread's frame caches. */
void memtap_pystack_thread_exit(void);

#endif
