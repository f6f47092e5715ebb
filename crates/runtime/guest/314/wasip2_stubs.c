/*
 * Symbols componentize-py's libpython3.14.so (built for wasm32-wasip2) takes
 * from its libc that zig's wasip1 wasi-libc does not have.
 *
 * The guest has no sockets and no resolver (outbound HTTP goes through the
 * host's fetch), so the socket calls fail with ENOTSUP, name lookups fail the
 * way a resolver without a database does, and `socket.gethostname()` answers
 * "localhost". `__wasi_init_tp` sets up the thread pointer in wasip2's libc;
 * the wasip1 libc has already done that by the time anything runs.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

int h_errno;

void __wasi_init_tp(void) {}

#define PW_NO_SOCKETS(ret, name, ...)                                                          \
    ret name(__VA_ARGS__) {                                                                   \
        errno = ENOTSUP;                                                                      \
        return -1;                                                                            \
    }

PW_NO_SOCKETS(int, socket, int domain, int type, int protocol)
PW_NO_SOCKETS(int, bind, int fd, const void *addr, unsigned len)
PW_NO_SOCKETS(int, connect, int fd, const void *addr, unsigned len)
PW_NO_SOCKETS(int, listen, int fd, int backlog)
PW_NO_SOCKETS(int, setsockopt, int fd, int level, int name, const void *value, unsigned len)
PW_NO_SOCKETS(int, getpeername, int fd, void *addr, unsigned *len)
PW_NO_SOCKETS(int, getsockname, int fd, void *addr, unsigned *len)
PW_NO_SOCKETS(long, recvfrom, int fd, void *buf, size_t n, int flags, void *addr, unsigned *len)
PW_NO_SOCKETS(long, sendto, int fd, const void *buf, size_t n, int flags, const void *addr,
              unsigned len)

int gethostname(char *name, size_t len) {
    static const char host[] = "localhost";
    if (len < sizeof host) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(name, host, sizeof host);
    return 0;
}

/* musl's values, which wasi-libc keeps. */
#define PW_EAI_NONAME (-2)
#define PW_EAI_FAIL (-4)

int getaddrinfo(const char *node, const char *service, const void *hints, void **res) {
    (void)node;
    (void)service;
    (void)hints;
    *res = NULL;
    return PW_EAI_NONAME;
}

void freeaddrinfo(void *res) { (void)res; }

const char *gai_strerror(int code) {
    (void)code;
    return "name resolution is not available in the pywrangler guest";
}

int getnameinfo(const void *addr, unsigned addrlen, char *host, unsigned hostlen, char *serv,
                unsigned servlen, int flags) {
    (void)addr;
    (void)addrlen;
    (void)host;
    (void)hostlen;
    (void)serv;
    (void)servlen;
    (void)flags;
    return PW_EAI_FAIL;
}

struct pw_in_addr {
    unsigned s_addr;
};

/* Dotted quad of a network-order IPv4 address, in a static buffer (as libc's). */
char *inet_ntoa(struct pw_in_addr in) {
    static char buf[16];
    const unsigned char *b = (const unsigned char *)&in.s_addr;
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100) buf[n++] = (char)('0' + v / 100);
        if (v >= 10) buf[n++] = (char)('0' + (v / 10) % 10);
        buf[n++] = (char)('0' + v % 10);
        buf[n++] = i < 3 ? '.' : '\0';
    }
    return buf;
}
