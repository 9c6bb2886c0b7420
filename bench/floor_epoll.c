/* The C floor: the least a server can do to fan one frame out to N WebSockets.

       gcc -O2 -o floor_epoll bench/floor_epoll.c && ./floor_epoll [--host 127.0.0.1] [--port 0]

   One thread, one epoll set, non-blocking sockets; it speaks to the driver exactly like
   bench/floor_server.py (the Python floor), so bench/clients.py and bench/fanout.py use
   either unchanged:

   - WebSocket side: an RFC 6455 handshake (Sec-WebSocket-Accept = base64(SHA-1(key + GUID)),
     both written below so the file needs nothing but libc; no extensions, so the client's
     permessage-deflate offer is declined). The first frame a client sends (its `hello`, never
     parsed) is answered with a pre-encoded `welcome`; a chunk starting with a close frame is
     answered with a close frame and the socket is closed; anything else is read and dropped.
   - stdin (the driver's signal): `load KEY HEX` (a complete frame), `fire KEY`, `count`,
     `quit`. stdout: `floor listening on PORT`, `loaded KEY`, `fired KEY N T_START T_END`
     (CLOCK_MONOTONIC seconds around the write loop), `count N`.

   `fire` is one loop of send() calls over the live sockets with the same pre-encoded bytes:
   that loop is the floor every server of this design pays on this kernel. A short write
   (full socket buffer) keeps the rest for EPOLLOUT, as asyncio's transports do. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HANDSHAKE 16384
#define MAX_FRAMES 64
#define MAX_LINE (1 << 20)
#define BACKLOG 65535 /* the kernel caps it at net.core.somaxconn */

enum state { FREE, HANDSHAKE, HELLO, LIVE };

struct conn {
    enum state state;
    char *head; /* the handshake request so far */
    size_t head_len;
    unsigned char *pending; /* bytes a short write left for EPOLLOUT */
    size_t pending_len;
};

struct frame {
    char key[64];
    unsigned char *bytes;
    size_t len;
};

static struct conn *conns;
static size_t n_conns;
static size_t live;
static int epfd;
static struct frame frames[MAX_FRAMES];
static size_t n_frames;

static const char WELCOME[] =
    "{\"type\":\"welcome\",\"v\":1,\"recovered\":false,\"epoch\":\"floor\",\"seq\":0,"
    "\"active\":[],\"events\":[],\"heartbeat_s\":20.0}";
static unsigned char welcome_frame[256];
static size_t welcome_len;
static const unsigned char CLOSE_FRAME[] = {0x88, 0x02, 0x03, 0xE8}; /* 1000 */

/* -- SHA-1 (FIPS 180-4) and base64, just enough for Sec-WebSocket-Accept -------------- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const unsigned char *p) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else f = b ^ c ^ d, k = 0xCA62C1D6;
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1(const unsigned char *data, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t full = len / 64 * 64;
    for (size_t i = 0; i < full; i += 64) sha1_block(h, data + i);
    unsigned char tail[128] = {0};
    size_t rest = len - full;
    memcpy(tail, data + full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[tail_len - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t i = 0; i < tail_len; i += 64) sha1_block(h, tail + i);
    for (int i = 0; i < 20; i++) out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static size_t base64(const unsigned char *in, size_t len, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = i + 1 < len ? abc[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? abc[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

/* -- connections ------------------------------------------------------------------------ */

static double mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct conn *conn_of(int fd) {
    if ((size_t)fd >= n_conns) {
        size_t grown = n_conns ? n_conns : 1024;
        while (grown <= (size_t)fd) grown *= 2;
        conns = realloc(conns, grown * sizeof *conns);
        if (!conns) abort();
        memset(conns + n_conns, 0, (grown - n_conns) * sizeof *conns);
        n_conns = grown;
    }
    return &conns[fd];
}

static void drop(int fd) {
    struct conn *c = conn_of(fd);
    if (c->state == LIVE) live--;
    free(c->head);
    free(c->pending);
    memset(c, 0, sizeof *c);
    close(fd); /* also leaves the epoll set */
}

/* Write all of `data`, or keep what the socket does not take for EPOLLOUT. */
static void put(int fd, const unsigned char *data, size_t len) {
    struct conn *c = conn_of(fd);
    if (c->pending_len == 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n == (ssize_t)len) return;
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) return; /* the read side will see it */
            n = 0;
        }
        data += n, len -= (size_t)n;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
    }
    c->pending = realloc(c->pending, c->pending_len + len);
    if (!c->pending) abort();
    memcpy(c->pending + c->pending_len, data, len);
    c->pending_len += len;
}

static void flush_pending(int fd) {
    struct conn *c = conn_of(fd);
    ssize_t n = send(fd, c->pending, c->pending_len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) drop(fd);
        return;
    }
    memmove(c->pending, c->pending + n, c->pending_len - (size_t)n);
    c->pending_len -= (size_t)n;
    if (c->pending_len == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
    }
}

/* The handshake request is complete: answer 101 (or 400 without a key). False: closed. */
static int upgrade(int fd, struct conn *c) {
    static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char key[128] = {0};
    for (char *line = strstr(c->head, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
        char *name = line + 2, *colon = strchr(name, ':'), *end = strstr(name, "\r\n");
        if (!colon || colon > end || colon - name != 17) continue;
        if (strncasecmp(name, "sec-websocket-key", 17) != 0) continue;
        char *value = colon + 1;
        while (value < end && (*value == ' ' || *value == '\t')) value++;
        size_t len = (size_t)(end - value);
        while (len && (value[len - 1] == ' ' || value[len - 1] == '\t')) len--;
        if (len < sizeof key) memcpy(key, value, len);
    }
    if (!key[0]) {
        static const char BAD[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        send(fd, BAD, sizeof BAD - 1, MSG_NOSIGNAL);
        drop(fd);
        return 0;
    }
    unsigned char joined[256], digest[20];
    size_t key_len = strlen(key);
    memcpy(joined, key, key_len);
    memcpy(joined + key_len, GUID, sizeof GUID - 1);
    sha1(joined, key_len + sizeof GUID - 1, digest);
    char accept[32], answer[256];
    base64(digest, 20, accept);
    int n = snprintf(answer, sizeof answer,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    put(fd, (const unsigned char *)answer, (size_t)n);
    c->state = HELLO;
    return 1;
}

/* Data from a client: the handshake, its hello (answered with the welcome), or later frames
   (a close frame is answered and closes; the rest is dropped unread, as in the Python floor). */
static void on_readable(int fd) {
    struct conn *c = conn_of(fd);
    unsigned char buf[16384];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            drop(fd);
            return;
        }
        if (n < 0) return;
        const unsigned char *data = buf;
        size_t len = (size_t)n;
        if (c->state == HANDSHAKE) {
            if (c->head_len + len > MAX_HANDSHAKE) {
                drop(fd);
                return;
            }
            c->head = realloc(c->head, c->head_len + len + 1);
            if (!c->head) abort();
            memcpy(c->head + c->head_len, data, len);
            c->head_len += len;
            c->head[c->head_len] = 0;
            char *end = strstr(c->head, "\r\n\r\n");
            if (!end) continue;
            size_t used = (size_t)(end + 4 - c->head);
            size_t rest = c->head_len - used;
            if (!upgrade(fd, c)) return;
            data = buf + (len - rest); /* what followed the request in this read */
            len = rest;
            free(c->head);
            c->head = NULL, c->head_len = 0;
            if (!len) continue;
        }
        if (c->state == HELLO) {
            put(fd, welcome_frame, welcome_len);
            c->state = LIVE;
            live++;
            continue;
        }
        if (len && (data[0] & 0x0F) == 0x8) {
            send(fd, CLOSE_FRAME, sizeof CLOSE_FRAME, MSG_NOSIGNAL);
            drop(fd);
            return;
        }
    }
}

static void on_accept(int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or EMFILE: the backlog keeps them */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* asyncio does too */
        struct conn *c = conn_of(fd);
        memset(c, 0, sizeof *c);
        c->state = HANDSHAKE;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* -- the driver's commands ---------------------------------------------------------------- */

static struct frame *find(const char *key) {
    for (size_t i = 0; i < n_frames; i++)
        if (strcmp(frames[i].key, key) == 0) return &frames[i];
    return NULL;
}

static void load(const char *key, const char *hex) {
    struct frame *f = find(key);
    if (!f) {
        if (n_frames == MAX_FRAMES) {
            free(frames[0].bytes);
            memmove(frames, frames + 1, (MAX_FRAMES - 1) * sizeof *frames);
            n_frames--;
        }
        f = &frames[n_frames++];
        memset(f, 0, sizeof *f);
        snprintf(f->key, sizeof f->key, "%s", key);
    }
    size_t len = strlen(hex) / 2;
    free(f->bytes);
    f->bytes = malloc(len ? len : 1);
    if (!f->bytes) abort();
    for (size_t i = 0; i < len; i++) sscanf(hex + 2 * i, "%2hhx", &f->bytes[i]);
    f->len = len;
    printf("loaded %s\n", key);
}

static void fire(const char *key) {
    struct frame *f = find(key);
    size_t written = 0;
    double start = mono();
    if (f) {
        for (size_t fd = 0; fd < n_conns; fd++) {
            if (conns[fd].state != LIVE) continue;
            put((int)fd, f->bytes, f->len);
            written++;
        }
    }
    double end = mono();
    printf("fired %s %zu %.9f %.9f\n", key, written, start, end);
}

/* One line from the driver; false on `quit`. */
static int command(char *line) {
    char *words[3] = {0};
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w && n < 3;
         w = strtok_r(NULL, " \t\r", &save))
        words[n++] = w;
    if (n == 0) return 1;
    if (strcmp(words[0], "load") == 0 && n == 3) load(words[1], words[2]);
    else if (strcmp(words[0], "fire") == 0 && n >= 2) fire(words[1]);
    else if (strcmp(words[0], "count") == 0) printf("count %zu\n", live);
    else if (strcmp(words[0], "quit") == 0) return 0;
    fflush(stdout);
    return 1;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0) host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);
    }
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        rlim_t wanted = limit.rlim_max == RLIM_INFINITY || limit.rlim_max > 65536 ? 65536 : limit.rlim_max;
        if (limit.rlim_cur < wanted) {
            limit.rlim_cur = wanted;
            setrlimit(RLIMIT_NOFILE, &limit);
        }
    }
    size_t size = sizeof WELCOME - 1; /* < 126: a one-byte length */
    welcome_frame[0] = 0x81, welcome_frame[1] = (unsigned char)size;
    memcpy(welcome_frame + 2, WELCOME, size);
    welcome_len = size + 2;

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (listener < 0 || inet_pton(AF_INET, host, &address.sin_addr) != 1 ||
        bind(listener, (struct sockaddr *)&address, sizeof address) != 0 ||
        listen(listener, BACKLOG) != 0) {
        perror("floor_epoll: listen");
        return 1;
    }
    socklen_t address_len = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &address_len);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);
    ev.data.fd = STDIN_FILENO;
    epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev);
    printf("floor listening on %d\n", ntohs(address.sin_port));
    fflush(stdout);

    char *line = malloc(MAX_LINE);
    size_t line_len = 0;
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                on_accept(listener);
            } else if (fd == STDIN_FILENO) {
                ssize_t got = read(STDIN_FILENO, line + line_len, MAX_LINE - 1 - line_len);
                if (got <= 0) return 0; /* the driver is gone */
                line_len += (size_t)got;
                char *newline;
                while ((newline = memchr(line, '\n', line_len))) {
                    *newline = 0;
                    if (!command(line)) return 0;
                    size_t used = (size_t)(newline + 1 - line);
                    memmove(line, newline + 1, line_len - used);
                    line_len -= used;
                }
                if (line_len == MAX_LINE - 1) line_len = 0; /* an absurd line: dropped */
            } else if (conn_of(fd)->state != FREE) {
                if (events[i].events & EPOLLOUT && conns[fd].pending_len) flush_pending(fd);
                if (conns[fd].state != FREE && events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    on_readable(fd);
            }
        }
    }
    return 0;
}
