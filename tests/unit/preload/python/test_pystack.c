/* The Python frames of a thread read from fake interpreter frames laid out as each
 * version's (pystack.c): order, lines, the entry bit of each version's rule, frames that
 * are not the program's, the caches, and the frames a code object freed leaves behind. */
#include "pyfake.h"

/* <module> (line 1) calls f (line 10) calls g (line 20), each at byte offset 8: g at
 * line 24, f at 14, <module> at 5. The interpreter loop ran <module>; f called g through C
 * (an entry), where the version can tell. */
static void three_frames(int minor) {
    fake_python(minor);
    char *mod = fake_code("<module>", "m.py", 1), *f = fake_code("f", "m.py", 10),
         *g = fake_code("g", "m.py", 20);
    int cstack = fl->owner_cstack >= 0;
    char *fm = fake_frame(mod, 8, cstack ? fake_cstack(NULL) : NULL, 1);
    char *ff = fake_frame(f, 8, fm, 0);
    char *fg = fake_frame(g, 8, cstack ? fake_cstack(ff) : ff, 1);
    set_current(fg);
    uint64_t out[8];
    cr_assert_eq(read_frames(out, 8), 3);
    const char *names[3] = {"g", "f", "<module>"};
    uint32_t lines[3] = {24, 14, 5};
    /* 3.9, 3.10: every frame is a run of the loop of its own */
    int entries[3] = {1, fl->style == MEMTAP_PYF_OBJECTS, 1};
    for (int i = 0; i < 3; i++) {
        cr_assert(memtap_is_py_frame(out[i]));
        cr_assert_str_eq(name_of(out[i]), names[i]);
        cr_assert_eq(memtap_py_frame_line(out[i]), lines[i], "frame %d: line %u", i,
                     memtap_py_frame_line(out[i]));
        cr_assert_eq((out[i] & MEMTAP_PY_ENTRY_BIT) != 0, entries[i], "frame %d's entry", i);
    }
    cr_assert_str_eq(memtap_pystack_code(memtap_py_frame_code(out[0]))->filename, "m.py");
    cr_assert_eq(memtap_pystack_code(memtap_py_frame_code(out[1]))->firstline, 10);
}

Test(pystack, frames_of_3_9, .timeout = 10) {
    three_frames(9);
}
Test(pystack, frames_of_3_10, .timeout = 10) {
    three_frames(10);
}
Test(pystack, frames_of_3_11, .timeout = 10) {
    three_frames(11);
}
Test(pystack, frames_of_3_12, .timeout = 10) {
    three_frames(12);
}
Test(pystack, frames_of_3_13, .timeout = 10) {
    three_frames(13);
}

Test(pystack, no_thread_state_or_no_frame_is_no_python, .timeout = 10) {
    fake_python(12);
    set_current(NULL);
    uint64_t out[4];
    cr_assert_eq(read_frames(out, 4), 0);
    cr_assert_eq(memtap_pystack_frames(out, 4), 0, "frames() without depth() reads nothing");
    /* a frame whose code is not a code object is not shown */
    char *code = fake_code("f", "m.py", 1);
    put_ptr(code, 8, fake_other_type);
    set_current(fake_frame(code, 0, NULL, 1));
    cr_assert_eq(read_frames(out, 4), 0);
}

Test(pystack, the_shim_frame_of_3_13_is_not_shown, .timeout = 10) {
    fake_python(13);
    char *caller = fake_code("make", "m.py", 5), *init = fake_code("A.__init__", "m.py", 2);
    char *shim = fake_code_at(blank((size_t)fl->co_code + CODE_ROOM), "__init__", "__init__", 0,
                              fl->co_shim_flag);
    char *fc = fake_frame(caller, 2, fake_cstack(NULL), 0);
    set_current(fake_frame(init, 4, fake_frame(shim, 0, fc, 0), 0));
    uint64_t out[4];
    cr_assert_eq(read_frames(out, 4), 2);
    cr_assert_str_eq(name_of(out[0]), "A.__init__");
    cr_assert_str_eq(name_of(out[1]), "make");
}

Test(pystack, a_frame_not_moved_costs_no_line_lookup, .timeout = 10) {
    fake_python(12);
    char *code = fake_code("f", "m.py", 1);
    char *outer = fake_frame(fake_code("<module>", "m.py", 1), 0, fake_cstack(NULL), 0);
    char *frame = fake_frame(code, 6, outer, 0);
    set_current(frame);
    uint64_t a[4], b[4];
    addr2line_calls = 0;
    cr_assert_eq(read_frames(a, 4), 2);
    cr_assert_eq(addr2line_calls, 2);
    cr_assert_eq(read_frames(b, 4), 2);
    cr_assert_eq(addr2line_calls, 2, "the same frames again: from the cache");
    cr_assert_eq(a[0], b[0]);
    cr_assert_eq(a[1], b[1]);
    put_ptr(frame, fl->fr_instr, code + fl->co_code + 10); /* the function moves on */
    cr_assert_eq(read_frames(b, 4), 2);
    cr_assert_eq(addr2line_calls, 3, "only the frame that moved is looked up");
    cr_assert_eq(memtap_py_frame_line(b[0]), 6);
    cr_assert_eq(memtap_py_frame_code(b[0]), memtap_py_frame_code(a[0]));
    cr_assert_eq(b[1], a[1]);
}

Test(pystack, a_new_code_object_at_a_freed_ones_address_is_new, .timeout = 10) {
    fake_python(12);
    size_t bytes = (size_t)fl->co_code + CODE_ROOM;
    char *code = fake_code_at(blank(bytes), "old", "old.py", 7, 0);
    char *frame = fake_frame(code, 0, fake_cstack(NULL), 0);
    set_current(frame);
    uint64_t out[2];
    cr_assert_eq(read_frames(out, 2), 1);
    uint64_t old_id = memtap_py_frame_code(out[0]);
    uint32_t epoch = memtap_pycode_epoch();
    memtap_pycode_forget(fake_ts); /* not a code object: nothing moves */
    cr_assert_eq(memtap_pycode_epoch(), epoch);
    memtap_pycode_forget(code); /* the code object's free, then another one in its place */
    cr_assert_neq(memtap_pycode_epoch(), epoch);
    fake_code_at(code, "new", "new.py", 7, 0);
    cr_assert_eq(read_frames(out, 2), 1);
    cr_assert_neq(memtap_py_frame_code(out[0]), old_id);
    cr_assert_str_eq(name_of(out[0]), "new");
    cr_assert_str_eq(memtap_pystack_code(old_id)->qualname, "old", "the old id keeps its name");
}

Test(pystack, room_keeps_the_innermost_frames, .timeout = 10) {
    fake_python(11);
    char *f = NULL;
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        f = fake_frame(fake_code(name, "deep.py", i + 1), 0, f, i == 0);
    }
    set_current(f);
    uint64_t out[MEMTAP_PY_MAX_FRAMES];
    cr_assert_eq(read_frames(out, 5), 5);
    cr_assert_str_eq(name_of(out[0]), "f299");
    cr_assert_str_eq(name_of(out[4]), "f295");
    cr_assert_eq(read_frames(out, MEMTAP_PY_MAX_FRAMES), MEMTAP_PY_MAX_FRAMES);
    cr_assert_str_eq(name_of(out[MEMTAP_PY_MAX_FRAMES - 1]), "f44");
}

Test(pystack, finalization_stops_other_threads, .timeout = 10) {
    fake_python(12);
    set_current(fake_frame(fake_code("f", "m.py", 1), 0, fake_cstack(NULL), 0));
    uint64_t out[2];
    cr_assert_eq(read_frames(out, 2), 1);
    memtap_pystack_stop_others(); /* this thread finalizes: it goes on */
    cr_assert_eq(read_frames(out, 2), 1);
}
