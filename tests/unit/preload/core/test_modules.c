/* Module maps: MODULES_RESET then one MODULE a loaded object, the program under its own
 * path with its build-id and segments; written again after a dlopen or dlclose. */
#include "support/live_capture.h"

#include "core/modules.h"
#include "memtap/format.h"

static char path[64];
static memtap_event_t ev[1024];

static void teardown(void) { unlink(path); }
TestSuite(modules, .fini = teardown);

Test(modules, the_map_lists_every_loaded_object, .timeout = 10) {
    live_begin(path, 0);
    memtap_modules_write(1);
    memtap_track_modules_changed();
    memtap_finish();
    size_t n = live_events(path, ev, 1024), at = 0;
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_MODULES_RESET, &at), 2);
    cr_assert_eq(at, 1, "right after the header");
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = '\0';
    int program = 0, libc = 0, modules = 0;
    for (size_t i = at + 1; i < n && ev[i].type == MEMTAP_EV_MODULE; i++) {
        modules++;
        cr_assert_gt(ev[i].u.module.nseg, 0);
        if (!strcmp(ev[i].u.module.path, exe)) {
            program++;
            cr_assert_eq(ev[i].u.module.build_id_len, 20, "GNU build-id (SHA-1)");
        }
        libc += strstr(ev[i].u.module.path, "/libc.so") != NULL;
    }
    cr_assert_eq(program, 1, "the program, named by its path");
    cr_assert_eq(libc, 1);
    cr_assert_eq(live_count(ev, n, MEMTAP_EV_MODULE, NULL), 2 * (size_t)modules,
                 "the same map twice");
}
