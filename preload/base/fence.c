/* membarrier(2) behind memtap_fence_set_flag's fast side (fence.h). */
#include "base/fence.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

int memtap_fence_asymmetric;

static long membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

void memtap_fence_init(void) {
    long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    memtap_fence_asymmetric = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                              membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

int memtap_fence_others(void) {
    if (!__atomic_load_n(&memtap_fence_asymmetric, __ATOMIC_RELAXED)) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the fast side has its own barrier */
        return 0;
    }
    return membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 ? 0 : -1;
}
