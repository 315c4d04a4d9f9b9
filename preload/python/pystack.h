/* Python stacks: a shadow stack per thread kept by a C profile function, code objects
 * interned once each (qualified name, file, first line), and the Python frames of the
 * current thread as tagged stack entries for the stack trie. */
#ifndef MEMTAP_PRELOAD_PYSTACK_H
#define MEMTAP_PRELOAD_PYSTACK_H

#include <stdint.h>

#include "memtap/format.h"
#include "python/python_api.h"

/* Python frames an allocation stack may carry (the innermost ones are kept). */
#define MEMTAP_PY_MAX_FRAMES 256

/* Prepares code interning (a code-extra slot). Returns 0, or -1. GIL held. */
int memtap_pystack_init(void);

/* The C profile function: CALL pushes, RETURN pops. */
int memtap_pystack_profile(py_object_t *obj, py_object_t *frame, int what, py_object_t *arg);

/* The calling thread's shadow stack starts (again) to follow its frames, or stops being
 * trusted (another profile function replaced ours). */
void memtap_pystack_follow(void);
void memtap_pystack_forget(void);
/* Every thread's shadow stack stops being trusted (profile set for all threads). */
void memtap_pystack_forget_all(void);

/* Writes the calling thread's Python frames, innermost first, into out[0..room): returns
 * how many. Safe inside an allocator hook: calls no Python API that allocates. */
int memtap_pystack_frames(uint64_t *out, int room);

/* How many Python frames the calling thread's shadow stack holds now (0: not in Python). */
int memtap_pystack_depth(void);

/* Name, file and first line of an interned code object (NULL when id is unknown). */
typedef struct {
    const char *qualname, *filename;
    uint32_t qualname_len, filename_len, firstline;
    uint32_t emitted_image; /* the image (memtap_image_seq) whose stream has its PY_CODE */
} memtap_py_code_t;
memtap_py_code_t *memtap_pystack_code(uint64_t id);

/* Thread exit: releases the shadow stack. */
void memtap_pystack_thread_exit(void);

#endif
