/* The replay of Python programs: what each stack held when the main program finished
 * (MAIN_DONE), and Python code objects looked up per image. */
#include <criterion/criterion.h>

#include "replay/replay.h"
#include "support/replay_events.h"

static memtap_replay_t r;

Test(replay_python, held_at_main_end_is_a_snapshot, .timeout = 10) {
    re_start_image(&r);
    for (uint32_t i = 1; i <= 3; i++)
        re_node(&r, i, 0, 0x1000 * i);
    re_alloc(&r, 0x100, 10, 1);
    re_alloc(&r, 0x200, 20, 2);
    memtap_event_t done = {.type = MEMTAP_EV_MAIN_DONE};
    done.u.time.ms = 5;
    re_feed(&r, done);
    memtap_event_t f = {.type = MEMTAP_EV_FREE};
    f.u.free.addr = 0x100; /* teardown frees it */
    re_feed(&r, f);
    re_alloc(&r, 0x300, 30, 3); /* teardown allocates and never frees */
    memtap_replay_finish(&r);
    cr_assert(r.main_done);
    cr_assert_eq(r.held_bytes, 30);
    cr_assert_eq(r.held_blocks, 2);
    cr_assert_eq(r.leaked_bytes, 50);
    cr_assert_eq(r.sites.v[r.site_of_node.v[1]].held_bytes, 10);
    cr_assert_eq(r.sites.v[r.site_of_node.v[3]].held_bytes, 0);
    memtap_replay_free(&r);
}

Test(replay_python, without_main_done_held_is_what_leaked, .timeout = 10) {
    re_start_image(&r);
    re_node(&r, 1, 0, 0x1000);
    re_alloc(&r, 0x100, 10, 1);
    memtap_replay_finish(&r);
    cr_assert(!r.main_done);
    cr_assert_eq(r.held_bytes, 10);
    memtap_replay_free(&r);
}

Test(replay_python, codes_are_looked_up_per_image, .timeout = 10) {
    re_start_image(&r);
    re_code(&r, 5, "first");
    re_code(&r, 5, "ignored: the same id again in a later LZ4 frame of the image");
    cr_assert_str_eq(memtap_replay_py_code(&r, 0, 5)->qualname, "first");
    cr_assert_null(memtap_replay_py_code(&r, 0, 6));
    cr_assert_null(memtap_replay_py_code(&r, 1, 5));
    memtap_replay_free(&r);
}
