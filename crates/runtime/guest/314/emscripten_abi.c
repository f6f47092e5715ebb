/*
 * What Pyodide's native extension modules (`*.cpython-314-wasm32-emscripten.so`, built with
 * Emscripten) need from the 3.14 guest beyond wasi-libc. The runtime links such modules into a
 * per-project guest (crate pywrangler-wasmlink) with the ABI prefix `__em_`: a module's import
 * `X` binds to `__em_X` below where one exists, else to wasi-libc's `X`. Only symbols whose C
 * ABI differs between Emscripten's musl and wasi-libc need an adapter; errno values, `time_t`,
 * `off_t`, `struct timespec`, `struct iovec` and the `_SC_*` numbers are the same in both.
 *
 * Also here: `dlopen`/`dlsym` over the linked extension modules (CPython's importer calls them
 * for every extension module), and the unwinder entry points Rust and C++ modules import. The
 * link strips wasm exception handling, so a Rust panic or C++ throw cannot unwind: it reports
 * itself and traps; the runtime answers that request with a 500 and replaces the instance.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Everything below is for other modules: main.so must export it (zig builds hidden by default). */
#pragma GCC visibility push(default)

/* ---- clocks: Emscripten's clockid_t is an int, wasi-libc's a pointer ---------------------- */

#define EM_CLOCK_REALTIME 0
#define EM_CLOCK_MONOTONIC 1
#define EM_CLOCK_MONOTONIC_RAW 4
#define EM_CLOCK_REALTIME_COARSE 5
#define EM_CLOCK_MONOTONIC_COARSE 6

static int em_clock(int id, clockid_t *out) {
    switch (id) {
    case EM_CLOCK_REALTIME:
    case EM_CLOCK_REALTIME_COARSE:
        *out = CLOCK_REALTIME;
        return 0;
    case EM_CLOCK_MONOTONIC:
    case EM_CLOCK_MONOTONIC_RAW:
    case EM_CLOCK_MONOTONIC_COARSE:
        *out = CLOCK_MONOTONIC;
        return 0;
    }
    /* The CPU-time clocks (2, 3) are not in wasi-libc without process-clock emulation. */
    errno = EINVAL;
    return -1;
}

int __em_clock_gettime(int id, struct timespec *ts) {
    clockid_t c;
    return em_clock(id, &c) ? -1 : clock_gettime(c, ts);
}

int __em_clock_getres(int id, struct timespec *ts) {
    clockid_t c;
    return em_clock(id, &c) ? -1 : clock_getres(c, ts);
}

int __em_clock_nanosleep(int id, int flags, const struct timespec *req, struct timespec *rem) {
    clockid_t c;
    if (em_clock(id, &c))
        return EINVAL; /* clock_nanosleep returns the error */
    return clock_nanosleep(c, flags, req, rem);
}

/* One thread: a condition variable's clock has no effect. */
int __em_pthread_condattr_setclock(void *attr, int id) {
    clockid_t c;
    (void)attr;
    return em_clock(id, &c) ? EINVAL : 0;
}

double emscripten_get_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double emscripten_date_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- open flags and AT_* (Emscripten keeps Linux's generic values) ------------------------ */

#define EM_O_ACCMODE 03
#define EM_O_WRONLY 01
#define EM_O_RDWR 02
#define EM_O_CREAT 0100
#define EM_O_EXCL 0200
#define EM_O_TRUNC 01000
#define EM_O_APPEND 02000
#define EM_O_NONBLOCK 04000
#define EM_O_DSYNC 010000
#define EM_O_SYNC 04010000
#define EM_O_DIRECTORY 0200000
#define EM_O_NOFOLLOW 0400000
#define EM_O_PATH 010000000
#define EM_AT_FDCWD (-100)
#define EM_AT_SYMLINK_NOFOLLOW 0x100
#define EM_AT_REMOVEDIR 0x200
#define EM_AT_SYMLINK_FOLLOW 0x400

static int em_oflags(int f) {
    int out;
    if (f & EM_O_PATH)
        out = O_SEARCH;
    else if ((f & EM_O_ACCMODE) == EM_O_RDWR)
        out = O_RDWR;
    else if ((f & EM_O_ACCMODE) == EM_O_WRONLY)
        out = O_WRONLY;
    else
        out = O_RDONLY;
    if (f & EM_O_CREAT)
        out |= O_CREAT;
    if (f & EM_O_EXCL)
        out |= O_EXCL;
    if (f & EM_O_TRUNC)
        out |= O_TRUNC;
    if (f & EM_O_APPEND)
        out |= O_APPEND;
    if (f & EM_O_NONBLOCK)
        out |= O_NONBLOCK;
    if ((f & EM_O_SYNC) == EM_O_SYNC)
        out |= O_SYNC;
    else if (f & EM_O_DSYNC)
        out |= O_DSYNC;
    if (f & EM_O_DIRECTORY)
        out |= O_DIRECTORY;
    if (f & EM_O_NOFOLLOW)
        out |= O_NOFOLLOW;
    return out; /* O_CLOEXEC, O_NOCTTY, O_LARGEFILE mean nothing here */
}

static int em_oflags_back(int f) {
    int out = 0;
    if ((f & O_RDWR) == O_RDWR)
        out = EM_O_RDWR;
    else if (f & O_WRONLY)
        out = EM_O_WRONLY;
    if (f & O_APPEND)
        out |= EM_O_APPEND;
    if (f & O_NONBLOCK)
        out |= EM_O_NONBLOCK;
    if (f & O_DSYNC)
        out |= EM_O_DSYNC;
    return out;
}

static int em_dirfd(int fd) { return fd == EM_AT_FDCWD ? AT_FDCWD : fd; }

static int em_atflags(int f) {
    int out = 0;
    if (f & EM_AT_SYMLINK_NOFOLLOW)
        out |= AT_SYMLINK_NOFOLLOW;
    if (f & EM_AT_REMOVEDIR)
        out |= AT_REMOVEDIR;
    if (f & EM_AT_SYMLINK_FOLLOW)
        out |= AT_SYMLINK_FOLLOW;
    return out;
}

int __em_open(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    int mode = (flags & EM_O_CREAT) ? va_arg(ap, int) : 0;
    va_end(ap);
    return open(path, em_oflags(flags), mode);
}

int __em_openat(int dirfd, const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    int mode = (flags & EM_O_CREAT) ? va_arg(ap, int) : 0;
    va_end(ap);
    return openat(em_dirfd(dirfd), path, em_oflags(flags), mode);
}

#define EM_F_GETFL 3
#define EM_F_SETFL 4

int __em_fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    int arg = va_arg(ap, int);
    va_end(ap);
    if (cmd == EM_F_GETFL) {
        int f = fcntl(fd, F_GETFL);
        return f < 0 ? f : em_oflags_back(f);
    }
    if (cmd == EM_F_SETFL)
        return fcntl(fd, F_SETFL, em_oflags(arg));
    return fcntl(fd, cmd, arg); /* F_GETFD/F_SETFD (1, 2) agree */
}

int __em_unlinkat(int dirfd, const char *path, int flags) {
    return unlinkat(em_dirfd(dirfd), path, em_atflags(flags));
}

int __em_mkdirat(int dirfd, const char *path, int mode) {
    return mkdirat(em_dirfd(dirfd), path, (mode_t)mode);
}

int __em_faccessat(int dirfd, const char *path, int mode, int flags) {
    return faccessat(em_dirfd(dirfd), path, mode, em_atflags(flags));
}

/* ---- the stat family: Emscripten's struct stat is 96 bytes, 32-bit fields first ----------- */

struct em_stat {
    uint32_t st_dev;
    uint32_t st_mode;
    uint32_t st_nlink;
    uint32_t st_uid;
    uint32_t st_gid;
    uint32_t st_rdev;
    int64_t st_size;
    int32_t st_blksize;
    int32_t st_blocks;
    struct timespec st_atim;
    struct timespec st_mtim;
    struct timespec st_ctim;
    uint64_t st_ino;
};
_Static_assert(sizeof(struct em_stat) == 96, "Emscripten's struct stat is 96 bytes");
_Static_assert(__builtin_offsetof(struct em_stat, st_size) == 24, "st_size at 24");
_Static_assert(__builtin_offsetof(struct em_stat, st_ino) == 88, "st_ino at 88");

static int em_stat_out(int rc, const struct stat *s, struct em_stat *out) {
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof *out);
    out->st_dev = (uint32_t)s->st_dev;
    out->st_mode = s->st_mode;
    out->st_nlink = (uint32_t)s->st_nlink;
    out->st_uid = s->st_uid;
    out->st_gid = s->st_gid;
    out->st_rdev = (uint32_t)s->st_rdev;
    out->st_size = s->st_size;
    out->st_blksize = (int32_t)s->st_blksize;
    out->st_blocks = (int32_t)s->st_blocks;
    out->st_atim = s->st_atim;
    out->st_mtim = s->st_mtim;
    out->st_ctim = s->st_ctim;
    out->st_ino = s->st_ino;
    return 0;
}

int __em_stat(const char *path, struct em_stat *out) {
    struct stat s;
    return em_stat_out(stat(path, &s), &s, out);
}

int __em_lstat(const char *path, struct em_stat *out) {
    struct stat s;
    return em_stat_out(lstat(path, &s), &s, out);
}

int __em_fstat(int fd, struct em_stat *out) {
    struct stat s;
    return em_stat_out(fstat(fd, &s), &s, out);
}

int __em_fstatat(int dirfd, const char *path, struct em_stat *out, int flags) {
    struct stat s;
    return em_stat_out(fstatat(em_dirfd(dirfd), path, &s, em_atflags(flags)), &s, out);
}

/* ---- dirent: Emscripten's carries d_off and d_reclen before d_type ------------------------ */

struct em_dirent {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[256];
};

/* One entry per call, as readdir's contract allows (the next call may overwrite it). */
static struct em_dirent em_entry;

struct em_dirent *__em_readdir(DIR *dir) {
    struct dirent *e = readdir(dir);
    if (!e)
        return 0;
    em_entry.d_ino = e->d_ino;
    em_entry.d_off = 0;
    em_entry.d_reclen = sizeof em_entry;
    em_entry.d_type = e->d_type; /* DT_* values agree */
    size_t n = strlen(e->d_name);
    if (n >= sizeof em_entry.d_name)
        n = sizeof em_entry.d_name - 1;
    memcpy(em_entry.d_name, e->d_name, n);
    em_entry.d_name[n] = 0;
    return &em_entry;
}

/* ---- unwinding without exception handling --------------------------------------------------- */

struct em_unwind_exception {
    uint64_t exception_class;
    void (*cleanup)(int reason, struct em_unwind_exception *exc);
};

static const char em_unwind_msg[] =
    "pywrangler: native code raised an exception (a Rust panic or C++ throw); the local runtime "
    "links native modules without unwinding, so this request fails\n";

int _Unwind_RaiseException(struct em_unwind_exception *exc) {
    (void)exc;
    (void)!write(2, em_unwind_msg, sizeof em_unwind_msg - 1);
    __builtin_trap();
}

void _Unwind_DeleteException(struct em_unwind_exception *exc) {
    if (exc && exc->cleanup)
        exc->cleanup(1 /* _URC_FOREIGN_EXCEPTION_CAUGHT */, exc);
}

/* ---- dlopen over the linked extension modules ----------------------------------------------- */

/* Defined by the table module the runtime generates for each link (possibly empty):
 * entry i is the extension's path relative to python_modules and its PyInit function. */
#define PW_LINKED(name) __attribute__((import_module("env"), import_name(#name))) name
extern int PW_LINKED(__pw_ext_count)(void);
extern const char *PW_LINKED(__pw_ext_path)(int i);
extern void *PW_LINKED(__pw_ext_init)(int i);

static const char *dl_error;

/* A handle is 1 + the table index. `path` is absolute; an entry matches its last components. */
void *dlopen(const char *path, int flags) {
    (void)flags;
    size_t n = path ? strlen(path) : 0;
    for (int i = 0; i < __pw_ext_count(); i++) {
        const char *p = __pw_ext_path(i);
        size_t m = strlen(p);
        if (n > m && path[n - m - 1] == '/' && strcmp(path + n - m, p) == 0)
            return (void *)(uintptr_t)(i + 1);
    }
    dl_error = "this native module is not linked into the local guest";
    return 0;
}

void *dlsym(void *handle, const char *name) {
    int i = (int)(uintptr_t)handle - 1;
    if (i < 0 || i >= __pw_ext_count() || strncmp(name, "PyInit_", 7) != 0) {
        dl_error = "symbol not found";
        return 0;
    }
    return __pw_ext_init(i);
}

char *dlerror(void) {
    const char *e = dl_error;
    dl_error = 0;
    return (char *)e;
}

int dlclose(void *handle) {
    (void)handle;
    return 0;
}
