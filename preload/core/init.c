/* The library's start and end, run by the dynamic loader: the constructor resolves the real
 * functions, reads the settings, opens the capture, begins the first image and installs the
 * fork, thread-exit and signal handlers and the Python hook; the destructor ends the
 * capture. Never linked into the unit tests (it would start tracking the test runner). May
 * call every file of core/, output/, stack/, python/python and hooks/real. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "core/fork.h"
#include "core/lifecycle.h"
#include "core/modules.h"
#include "core/signals.h"
#include "core/threads.h"
#include "hooks/real.h"
#include "memtap/format.h"
#include "output/capture_file.h"
#include "output/shm.h"
#include "output/stream.h"
#include "python/python.h"
#include "stack/callstack.h"
#include "unwind/unwind.h"

__attribute__((constructor(101))) static void memtap_init(void) {
    memtap_guard = 1;
    if (!memtap_real_resolve()) {
        memtap_log("cannot find the real allocator functions", NULL, 0);
        memtap_guard = 0;
        return;
    }
    memtap_unwind_init();
    const char *depth = getenv(MEMTAP_ENV_MAX_DEPTH);
    const char *py_only = getenv(MEMTAP_ENV_PYTHON_ONLY);
    memtap_callstack_configure(depth && atoi(depth) > 0 ? atoi(depth) : MEMTAP_DEFAULT_DEPTH,
                               py_only && !strcmp(py_only, "1"));
    uint32_t flags = 0;
    int fd = -1, collected = memtap_capture_collected(&flags);
    if (collected < 0 || (collected && memtap_output_connect() < 0)) {
        memtap_guard = 0; /* untracked: --no-children, or the collector is out of reach */
        return;
    }
    if (!collected)
        fd = memtap_capture_open(&flags);
    if ((collected || fd >= 0) && memtap_stream_init() < 0) {
        memtap_log("cannot map the record buffers", NULL, errno);
        if (fd >= 0)
            close(fd);
        memtap_guard = 0;
        return;
    }
    if ((!collected && fd < 0) || memtap_begin_image(fd, flags) < 0) {
        memtap_guard = 0;
        return;
    }
    memtap_state = MEMTAP_STATE_ACTIVE;
    memtap_modules_write(1);
    memtap_fork_install();
    memtap_threads_init();
    memtap_signals_install();
    memtap_python_prepare();
    memtap_guard = 0;
}

__attribute__((destructor)) static void memtap_fini(void) { memtap_finish(); }
