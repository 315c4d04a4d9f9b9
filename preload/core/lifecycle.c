/* The tracker's state (guard, on/off, disable) and the life of an image: its start (header,
 * trie), its end (last records, trailer) and the end of the capture at exit. May call
 * output/ (stream, pacing, capture_file), stack/callstack, base/ and threads.c. */
#include "core/lifecycle.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "base/log.h"
#include "base/procfs.h"
#include "core/threads.h"
#include "core/track.h"
#include "memtap/format.h"
#include "leaks/exit_scan.h"
#include "output/capture_file.h"
#include "output/pacing.h"
#include "output/record.h"
#include "output/shm.h"
#include "output/stream.h"
#include "output/tbuf.h"
#include "stack/callstack.h"

__thread volatile int memtap_guard __attribute__((tls_model("initial-exec")));
/* read by every hook: on a line that records never write */
__attribute__((aligned(64))) int memtap_state;
pid_t memtap_capture_pid;
uint32_t memtap_image_seq = 1;

int memtap_output_connect(void) {
    return memtap_shm_connect(memtap_tbuf_slot_size(), memtap_tbuf_slot_data_offset());
}

void memtap_disable(const char *what, int err) {
    if (__atomic_exchange_n(&memtap_state, MEMTAP_STATE_OFF, __ATOMIC_ACQ_REL) !=
        MEMTAP_STATE_OFF)
        memtap_log(what, memtap_capture_path(), err);
}

int memtap_begin_image(int fd, uint32_t flags) {
    int err = 0;
    if (memtap_callstack_begin_image() < 0) {
        memtap_log("cannot map memory for stacks", NULL, errno);
        return -1;
    }
    static char cmdline[16 * 1024], exe[PATH_MAX];
    memtap_header_info_t h = {0};
    h.flags = flags;
    h.pid = (uint64_t)getpid();
    h.ppid = (uint64_t)getppid();
    h.start_unix_ns = memtap_pace_realtime_ns();
    h.page_size = (uint64_t)sysconf(_SC_PAGESIZE);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    h.exe = exe;
    h.cmdline = cmdline;
    h.cmdline_len = memtap_read_file("/proc/self/cmdline", cmdline, sizeof cmdline);
    if (memtap_stream_open(fd, &h, &err) < 0) {
        memtap_log("cannot start the capture", memtap_capture_path(), err);
        return -1;
    }
    __atomic_store_n(&memtap_image_seq, memtap_image_seq + 1, __ATOMIC_RELEASE);
    memtap_threads_begin_image();
    memtap_capture_pid = getpid();
    memtap_pace_start();
    return 0;
}

/* The stack pointer of memtap_finish's caller: below it, every frame of the thread that
 * exits is memtap's own (the leak scan leaves them out), 0 outside memtap_finish. */
static uintptr_t exit_cfa;

void memtap_end_image(uint8_t last_type) {
    uint64_t rss = memtap_rss_bytes();
    uint64_t allocations, frees;
    /* no record may start until the next image (or for good); those under way are finished
     * and written out, so a failed exec loses none */
    __atomic_store_n(&memtap_image_closing, 1, __ATOMIC_SEQ_CST);
    memtap_stream_close_threads(&allocations, &frees);
    if (memtap_stream_reserve(4 * MEMTAP_RECORD_ROOM) == 0) {
        memtap_stream_stamp_last(); /* after every record the threads wrote */
        memtap_stream.allocations += allocations;
        memtap_stream.frees += frees;
        memtap_enc_time(&memtap_stream, memtap_pace_elapsed_ms(), rss);
        memtap_enc_u64(&memtap_stream, last_type, memtap_pace_elapsed_ms());
        if (last_type == MEMTAP_REC_EXIT) /* the image's last blocks are its leaks */
            memtap_leak_scan_at_exit(exit_cfa);
        if (memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX) == 0)
            memtap_enc_trailer(&memtap_stream);
    }
    memtap_stream_end(); /* the trie stays: other threads may be reading it */
}

void memtap_finish(void) {
    exit_cfa = (uintptr_t)__builtin_dwarf_cfa();
    if (getpid() != memtap_capture_pid)
        return;
    /* exit from a signal handler that interrupted this thread inside memtap: the locks may
     * be this thread's own; the capture stays incomplete, as after a crash */
    if (memtap_guard > 0)
        return;
    memtap_guard++;
    memtap_lock(&memtap_stream_lock);
    if (memtap_tracking()) {
        memtap_end_image(MEMTAP_REC_EXIT);
        if (!memtap_shm) /* collector mode: the region stays mapped until the process ends */
            close(memtap_stream_fd());
        memtap_state = MEMTAP_STATE_OFF;
        /* threads waiting to record go on untracked (one may be joined by a destructor) */
        __atomic_store_n(&memtap_image_closing, 0, __ATOMIC_SEQ_CST);
    }
    memtap_stream_unlock();
    memtap_guard--;
}

void memtap_track_main_done(void) {
    memtap_lock(&memtap_stream_lock);
    if (memtap_tracking() && memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX) == 0) {
        memtap_enc_u64(&memtap_stream, MEMTAP_REC_MAIN_DONE, memtap_pace_elapsed_ms());
        memtap_pace_after_record();
    }
    memtap_stream_unlock();
}
