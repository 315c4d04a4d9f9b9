/* Python support: finds CPython in the program, and once the interpreter is initialised
 * installs the PyMem wrappers (pymem.c) and starts reading Python frames at allocations
 * (pystack.c). Programs without CPython are left alone. */
#ifndef MEMTAP_PRELOAD_PYTHON_H
#define MEMTAP_PRELOAD_PYTHON_H

/* From the library constructor (guard raised, tracking on): registers the audit hook that
 * does the rest at the interpreter's first audit event after initialisation. */
void memtap_python_prepare(void);

#endif
