/*
 * netdb stubs for the WASI CPython guest.
 *
 * zig's wasi-libc headers declare the classic resolver functions, so CPython's
 * configure detects them and socketmodule.c calls them, but the libc archive
 * does not define them. The guest has no network access anyway (outbound
 * fetch goes through the host), so every lookup fails the way a resolver
 * without a database would: NULL result and HOST_NOT_FOUND.
 */
#include <stddef.h>

/* Declared opaque on purpose: the libc headers may or may not provide netdb.h. */
struct hostent;
struct servent;
struct protoent;

#define HOST_NOT_FOUND 1

static int pw_h_errno;

int *__h_errno_location(void) { return &pw_h_errno; }

struct hostent *gethostbyname(const char *name) {
    (void)name;
    pw_h_errno = HOST_NOT_FOUND;
    return NULL;
}

struct hostent *gethostbyaddr(const void *addr, unsigned int len, int type) {
    (void)addr; (void)len; (void)type;
    pw_h_errno = HOST_NOT_FOUND;
    return NULL;
}

const char *hstrerror(int err) {
    (void)err;
    return "host lookup is not available in the pywrangler guest";
}

struct servent *getservbyname(const char *name, const char *proto) {
    (void)name; (void)proto;
    return NULL;
}

struct servent *getservbyport(int port, const char *proto) {
    (void)port; (void)proto;
    return NULL;
}

struct protoent *getprotobyname(const char *name) {
    (void)name;
    return NULL;
}
