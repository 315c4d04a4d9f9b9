/* Where a capture goes: a new file opened exclusive and never through a symlink (unless
 * forced), the descriptor MEMTAP_FD hands over when it names this process and still the
 * same file, <output>.<pid> for a fork child or a descendant, nothing with --no-children,
 * and one line on stderr when it cannot be opened. open and fstat go through the seam. */
#include "support/live_capture.h"

#include <errno.h>
#include <ftw.h>

#include "memtap/format.h"
#include "output/capture_file.h"

static char dir[64], out[128];
static int seen_flags = -1, seen_mode = -1, open_errno;
static char seen_path[256];

static int watched_open(const char *path, int flags, mode_t mode) {
    snprintf(seen_path, sizeof seen_path, "%s", path);
    seen_flags = flags;
    seen_mode = (int)mode;
    if (open_errno) {
        errno = open_errno;
        return -1;
    }
    return open(path, flags, mode);
}

static int failing_fstat(int fd, struct stat *st) {
    (void)fd;
    (void)st;
    errno = EIO;
    return -1;
}

static void setup(void) {
    strcpy(dir, "/tmp/memtap-unit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out.memtap", dir);
    setenv(MEMTAP_ENV_OUTPUT, out, 1);
    unsetenv(MEMTAP_ENV_FD);
    unsetenv(MEMTAP_ENV_FORCE);
    unsetenv(MEMTAP_ENV_NO_CHILDREN);
    memtap_capture_sys.open = watched_open;
}
static int remove_one(const char *path, const struct stat *st, int type, struct FTW *f) {
    (void)st;
    (void)type;
    (void)f;
    return remove(path);
}
static void teardown(void) { nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS); }
TestSuite(capture_file, .init = setup, .fini = teardown);

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static off_t size_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The MEMTAP_FD value that hands fd (opened on a file) to process pid. */
static const char *fd_value(int fd, long pid, long ino_delta) {
    static char v[128];
    struct stat st;
    fstat(fd, &st);
    snprintf(v, sizeof v, "%d:%ld:%llu:%llu", fd, pid, (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + (unsigned long long)ino_delta);
    return v;
}

Test(capture_file, a_new_file_exclusive_never_through_a_link, .timeout = 10) {
    cr_assert_null(memtap_capture_path(), "no path before the capture is opened");
    uint32_t flags = 99;
    int fd = memtap_capture_open(&flags);
    cr_assert_geq(fd, 0);
    cr_assert_eq(flags, 0);
    cr_assert_str_eq(seen_path, out);
    cr_assert_eq(seen_flags, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC);
    cr_assert_eq(seen_mode, 0644);
    cr_assert_str_eq(memtap_capture_path(), out);
    cr_assert_str_eq(getenv(MEMTAP_ENV_FD), fd_value(fd, getpid(), 0),
                     "descendants learn that the capture is taken");
}

Test(capture_file, an_existing_file_is_refused_and_kept, .timeout = 10) {
    write_file(out, "the user's data");
    live_catch_stderr();
    uint32_t flags;
    cr_assert_eq(memtap_capture_open(&flags), -1);
    char line[512];
    snprintf(line, sizeof line,
             "memtap: cannot create the capture: %s: File exists; tracking is off, the "
             "program goes on\n", out);
    cr_assert_str_eq(live_stderr_text(), line);
    cr_assert_eq(size_of(out), 15);
    cr_assert_null(getenv(MEMTAP_ENV_FD));
}

Test(capture_file, a_symlink_is_never_followed, .timeout = 10) {
    char target[160];
    snprintf(target, sizeof target, "%s/target", dir);
    cr_assert_eq(symlink(target, out), 0);
    uint32_t flags;
    live_catch_stderr();
    cr_assert_eq(memtap_capture_open(&flags), -1, "a dangling link is not created through");
    cr_assert_eq(size_of(target), -1);
    write_file(target, "precious");
    setenv(MEMTAP_ENV_FORCE, "1", 1);
    cr_assert_eq(memtap_capture_open(&flags), -1, "nor a forced one truncated through");
    cr_assert_eq(size_of(target), 8);
    cr_assert_neq(strstr(live_stderr_text(), "Too many levels of symbolic links"), NULL);
}

Test(capture_file, force_replaces_an_existing_file, .timeout = 10) {
    write_file(out, "an old capture");
    setenv(MEMTAP_ENV_FORCE, "1", 1);
    uint32_t flags;
    int fd = memtap_capture_open(&flags);
    cr_assert_geq(fd, 0);
    cr_assert_eq(seen_flags, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
    cr_assert_eq(size_of(out), 0);
}

Test(capture_file, the_descriptor_handed_to_this_process_is_used, .timeout = 10) {
    int fd = open(out, O_RDWR | O_CREAT, 0644); /* as memtap run opens it: no FD_CLOEXEC */
    setenv(MEMTAP_ENV_FD, fd_value(fd, getpid(), 0), 1);
    uint32_t flags = 99;
    cr_assert_eq(memtap_capture_open(&flags), fd);
    cr_assert_eq(flags, 0, "empty: the first image");
    cr_assert_eq(fcntl(fd, F_GETFD), FD_CLOEXEC, "not handed on to the program's children");
    cr_assert_eq(seen_flags, -1, "nothing opened");
    cr_assert_eq(write(fd, "x", 1), 1);
    cr_assert_eq(memtap_capture_open(&flags), fd);
    cr_assert_eq(flags, MEMTAP_HDR_AFTER_EXEC, "not empty: the image before us wrote");
}

Test(capture_file, a_descriptor_that_names_another_file_now_is_not_used, .timeout = 10) {
    int fd = open(out, O_RDWR | O_CREAT, 0644);
    setenv(MEMTAP_ENV_FD, fd_value(fd, getpid(), 1), 1); /* the program reused the number */
    uint32_t flags;
    int got = memtap_capture_open(&flags);
    cr_assert_geq(got, 0);
    cr_assert_neq(got, fd);
    char child[160];
    snprintf(child, sizeof child, "%s.%ld", out, (long)getpid());
    cr_assert_str_eq(seen_path, child, "a file of its own, as a child's");
    cr_assert_eq(seen_flags, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC);
}

Test(capture_file, a_descendant_gets_a_file_of_its_own, .timeout = 10) {
    int fd = open(out, O_RDWR | O_CREAT, 0644);
    setenv(MEMTAP_ENV_FD, fd_value(fd, getpid() + 1, 0), 1); /* handed to our parent */
    uint32_t flags;
    int got = memtap_capture_open(&flags);
    cr_assert_geq(got, 0);
    char child[160];
    snprintf(child, sizeof child, "%s.%ld", out, (long)getpid());
    cr_assert_eq(size_of(child), 0);
    cr_assert_eq(flags, 0);
}

Test(capture_file, no_children_leaves_a_descendant_untracked_and_silent, .timeout = 10) {
    int fd = open(out, O_RDWR | O_CREAT, 0644);
    setenv(MEMTAP_ENV_FD, fd_value(fd, getpid() + 1, 0), 1);
    setenv(MEMTAP_ENV_NO_CHILDREN, "1", 1);
    cr_assert_eq(memtap_capture_children(), 0);
    live_catch_stderr();
    uint32_t flags;
    cr_assert_eq(memtap_capture_open(&flags), -1);
    cr_assert_str_eq(live_stderr_text(), "");
    cr_assert_eq(seen_flags, -1, "nothing created");
}

Test(capture_file, without_an_output_the_program_names_the_file, .timeout = 10) {
    unsetenv(MEMTAP_ENV_OUTPUT);
    cr_assert_eq(chdir(dir), 0);
    uint32_t flags;
    cr_assert_geq(memtap_capture_open(&flags), 0);
    char name[128];
    snprintf(name, sizeof name, "memtap-test_capture_file.%ld.memtap", (long)getpid());
    cr_assert_str_eq(seen_path, name);
    cr_assert_str_eq(getenv(MEMTAP_ENV_OUTPUT), name, "fork children add .<pid> to it");
    cr_assert_eq(size_of(name), 0);
}

Test(capture_file, the_fd_variable_names_the_open_file, .timeout = 10) {
    int fd = open(out, O_RDWR | O_CREAT, 0644);
    char var[128], want[160];
    cr_assert_eq(memtap_capture_fd_variable(fd, var, sizeof var), 0);
    snprintf(want, sizeof want, "MEMTAP_FD=%s", fd_value(fd, getpid(), 0));
    cr_assert_str_eq(var, want);
    memtap_capture_sys.fstat = failing_fstat;
    cr_assert_eq(memtap_capture_fd_variable(fd, var, sizeof var), -1);
}

Test(capture_file, a_child_capture_that_cannot_be_created_says_why, .timeout = 10) {
    uint32_t flags;
    cr_assert_geq(memtap_capture_open(&flags), 0);
    open_errno = EACCES;
    live_catch_stderr();
    cr_assert_eq(memtap_capture_open_child(), -1);
    char line[512];
    snprintf(line, sizeof line,
             "memtap: cannot create the child's capture: %s.%ld: Permission denied; tracking "
             "is off, the program goes on\n", out, (long)getpid());
    cr_assert_str_eq(live_stderr_text(), line);
}
