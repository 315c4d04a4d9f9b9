/* exec hand-over: the image's end, the environment that passes the capture descriptor on,
 * and the new image after a failed exec. May call lifecycle.c, modules.c, output/ (stream,
 * capture_file), stack/callstack and hooks/real (the real malloc and free). */
#include "core/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/lifecycle.h"
#include "core/modules.h"
#include "hooks/real.h"
#include "memtap/format.h"
#include "output/capture_file.h"
#include "output/shm.h"
#include "output/stream.h"
#include "output/tbuf.h"
#include "stack/callstack.h"

extern char **environ;

char **memtap_exec_prepare(char *const envp[]) {
    if (getpid() != memtap_capture_pid)
        return NULL;
    memtap_callstack_lock();
    memtap_lock(&memtap_stream_lock);
    char *const *src = envp ? envp : environ;
    size_t n = 0;
    while (src && src[n])
        n++;
    /* the new image learns it follows this one: collector mode, our pid (its header then
     * says AFTER_EXEC); else the capture's descriptor, kept open across the exec */
    static char fdvar[128];
    const char *var = memtap_shm ? MEMTAP_ENV_EXEC : MEMTAP_ENV_FD;
    char **env = memtap_tracking() ? memtap_real.malloc((n + 2) * sizeof *env) : NULL;
    if (memtap_shm && env)
        snprintf(fdvar, sizeof fdvar, "%s=%ld", MEMTAP_ENV_EXEC, (long)getpid());
    if (!env || (!memtap_shm &&
                 memtap_capture_fd_variable(memtap_stream_fd(), fdvar, sizeof fdvar) != 0)) {
        memtap_real.free(env);
        memtap_stream_unlock();
        memtap_callstack_unlock();
        return NULL; /* the new image will start a capture of its own */
    }
    size_t k = 0, name_len = strlen(var);
    for (size_t i = 0; i < n; i++)
        if (strncmp(src[i], var, name_len) != 0 || src[i][name_len] != '=')
            env[k++] = src[i];
    env[k++] = fdvar;
    env[k] = NULL;
    memtap_end_image(MEMTAP_REC_EXEC);
    if (!memtap_shm)
        fcntl(memtap_stream_fd(), F_SETFD, 0); /* keep the descriptor open across exec */
    return env; /* both locks stay held until exec succeeds or memtap_exec_failed */
}

void memtap_exec_failed(char **newenv) {
    int saved = errno;
    memtap_real.free(newenv);
    int fd = memtap_stream_fd();
    if (!memtap_shm)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    memtap_callstack_end_image(); /* its lock is held: no thread reads the trie */
    if (memtap_tracking() && memtap_begin_image(fd, MEMTAP_HDR_CONTINUED) < 0)
        memtap_state = MEMTAP_STATE_OFF;
    __atomic_store_n(&memtap_image_closing, 0, __ATOMIC_SEQ_CST); /* records go on */
    memtap_stream_unlock();
    memtap_callstack_unlock();
    if (memtap_tracking())
        memtap_modules_write(1);
    errno = saved;
}
