/*
 * The benchmark's SSE clients: COUNT streams to 127.0.0.1:PORT/live?view=VIEW,
 * read in one epoll loop (tests/benchmarks/test_live.py compiles and drives it).
 *
 * Why C: the clients share the 2-core machine with the server they measure.
 * In Python (asyncio) reading 1,000 streams took 60-70% of a core, most of it
 * in user space, and that CPU is taken from daphne. Here a read costs little
 * more than the recv(2) itself.
 *
 * Every `message` event is checked on every stream (ids must grow: a repeated
 * or lower one is a duplicate). Ids are times, not a dense range, so gaps are
 * found by the benchmark: each stream reports how many ids it got, their sum
 * and the last one, to compare with the ids stored. Each read that
 * carried messages is kept as (first id, last id, wall-clock time), from which
 * the benchmark computes latencies.
 *
 *   sse_client PORT COUNT VIEW
 *
 * prints "ready OK ERRORS" once every stream is open (response headers and its
 * first event read), then answers on stdin:
 *   wait HI SECONDS  -> "drained" once every open stream has read id HI (or
 *                       SECONDS passed)
 *   stop             -> one JSON line with every stream's figures, in the order
 *                       they were opened, then exits
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_FLIGHT 200 /* connections opening at once: stay under the listen backlog */
#define READ_BYTES (4 << 20)

static const char PREFIX[] = "event: message\nid: ";

typedef struct {
    long first, last;
    double at;
} Read;

typedef struct {
    int fd, connecting, attempts, streaming, closed;
    char error[96];
    char *carry;
    size_t carried, room;
    long n, dups, last;
    unsigned long long sum; /* of the ids received (wraps; compared the same way) */
    Read *reads;
    size_t nreads, reads_room;
} Stream;

static Stream *streams;
static int count, opened, ready, errors, epfd;
static struct sockaddr_in server;
static char request[256];
static char *buffer;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *grow(void *p, size_t *room, size_t need, size_t size) {
    if (need <= *room) return p;
    size_t r = *room ? *room : 64;
    while (r < need) r *= 2;
    p = realloc(p, r * size);
    if (!p) {
        perror("realloc");
        exit(1);
    }
    *room = r;
    return p;
}

/* The stream is over; `error` (or what the server said) if it never got going. */
static void finish(Stream *s, const char *error) {
    if (s->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
    }
    if (!s->streaming) { /* counts as a failed connection */
        size_t said = s->carried < sizeof s->error - 1 ? s->carried : sizeof s->error - 1;
        if (said) memcpy(s->error, s->carry, said);
        else snprintf(s->error, sizeof s->error, "%s", error);
        errors++;
        ready++;
    } else {
        s->closed = 1; /* the server ended it (a backpressure cut-off) */
    }
}

/* Starts a non-blocking connect; on_writable() sends the request. */
static void start(Stream *s) {
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    s->attempts++;
    if (s->fd < 0) {
        finish(s, "no socket (open files limit?)");
        return;
    }
    int rc = connect(s->fd, (struct sockaddr *)&server, sizeof server);
    if (rc < 0 && errno != EINPROGRESS) {
        finish(s, "connect failed");
        return;
    }
    s->connecting = 1;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (unsigned)(s - streams)};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

static void on_writable(Stream *s) {
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error) { /* refused or timed out: try again, a few times */
        epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
        if (s->attempts < 5) start(s);
        else finish(s, "connect failed");
        return;
    }
    s->connecting = 0;
    if (send(s->fd, request, strlen(request), 0) < 0) {
        finish(s, "request not sent");
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)(s - streams)};
    epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

/* Check the message ids of the complete events in data[0:len]. */
static void check(Stream *s, const char *data, size_t len, double at) {
    const char *p = data, *end = data + len;
    long first = 0, last_here = 0;
    while ((p = memmem(p, end - p, PREFIX, sizeof PREFIX - 1)) != NULL) {
        p += sizeof PREFIX - 1;
        const char *colon = memchr(p, ':', end - p); /* id: <channel>:<messages.id> */
        if (!colon) break;
        long id = strtol(colon + 1, NULL, 10);
        p = colon + 1;
        if (!first) first = id;
        last_here = id;
        if (id <= s->last) {
            s->dups++;
            continue;
        }
        s->sum += (unsigned long long)id;
        s->last = id;
        s->n++;
    }
    if (first) {
        s->reads = grow(s->reads, &s->reads_room, s->nreads + 1, sizeof(Read));
        s->reads[s->nreads++] = (Read){first, last_here, at};
    }
}

/* Complete events end with a blank line; the rest waits for the next read. */
static void take(Stream *s, const char *data, size_t len, double at) {
    size_t cut = 0;
    for (size_t i = len; i >= 2; i--) {
        if (data[i - 1] == '\n' && data[i - 2] == '\n') {
            cut = i;
            break;
        }
    }
    if (cut) check(s, data, cut, at);
    memmove(s->carry, data + cut, len - cut); /* data may be s->carry itself */
    s->carried = len - cut;
}

static void on_readable(Stream *s) {
    ssize_t got = recv(s->fd, buffer, READ_BYTES, 0);
    if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
        finish(s, "closed before the first event");
        return;
    }
    double at = now();
    s->carry = grow(s->carry, &s->room, s->carried + got + 1, 1);
    memcpy(s->carry + s->carried, buffer, got);
    s->carried += got;
    s->carry[s->carried] = 0;
    if (!s->streaming) {
        char *body = strstr(s->carry, "\r\n\r\n");
        char *first_event = body ? strstr(body + 4, "\n\n") : NULL;
        if (!first_event) return;
        if (strncmp(s->carry, "HTTP/1.1 200", 12) && strncmp(s->carry, "HTTP/1.0 200", 12)) {
            finish(s, "not 200");
            return;
        }
        s->streaming = 1;
        ready++;
        size_t start = first_event + 2 - s->carry;
        memmove(s->carry, s->carry + start, s->carried - start);
        s->carried -= start;
    }
    take(s, s->carry, s->carried, at);
}

static int drained(long target) {
    for (int i = 0; i < count; i++) {
        Stream *s = &streams[i];
        if (s->streaming && !s->closed && s->last < target) return 0;
    }
    return 1;
}

static void report(void) {
    printf("{\"streams\": [");
    for (int i = 0; i < count; i++) {
        Stream *s = &streams[i];
        printf("%s{\"n\": %ld, \"sum\": %llu, \"last\": %ld, \"dups\": %ld, \"closed\": %s",
               i ? ", " : "", s->n, s->sum, s->last, s->dups, s->closed ? "true" : "false");
        if (s->error[0]) {
            printf(", \"error\": \"");
            for (char *c = s->error; *c; c++) putchar(*c == '"' || *c == '\\' || *c < 32 ? '?' : *c);
            putchar('"');
        }
        printf(", \"reads\": [");
        for (size_t r = 0; r < s->nreads; r++)
            printf("%s[%ld, %ld, %.6f]", r ? ", " : "", s->reads[r].first, s->reads[r].last,
                   s->reads[r].at);
        printf("]}");
    }
    printf("]}\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT COUNT VIEW\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    count = atoi(argv[2]);
    snprintf(request, sizeof request, "GET /live?view=%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
             argv[3]);
    server.sin_family = AF_INET;
    server.sin_port = htons(port);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    streams = calloc(count, sizeof(Stream));
    buffer = malloc(READ_BYTES);
    epfd = epoll_create1(0);
    for (int i = 0; i < count; i++) streams[i].fd = -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)count}, events[256];
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
    int announced = 0;
    long target = -1;
    double deadline = 0;
    char line[512];
    size_t line_len = 0;
    for (;;) {
        while (opened < count && opened - ready < IN_FLIGHT) start(&streams[opened++]);
        if (!announced && ready == count) {
            printf("ready %d %d\n", count - errors, errors);
            fflush(stdout);
            announced = 1;
        }
        if (target >= 0 && (drained(target) || now() > deadline)) {
            printf("drained\n");
            fflush(stdout);
            target = -1;
        }
        int n = epoll_wait(epfd, events, 256, 100);
        for (int e = 0; e < n; e++) {
            unsigned index = events[e].data.u32;
            if (index < (unsigned)count) {
                Stream *s = &streams[index];
                if (s->connecting) on_writable(s);
                else on_readable(s);
                continue;
            }
            ssize_t got = read(0, line + line_len, sizeof line - 1 - line_len);
            if (got <= 0) return 0; /* the benchmark went away */
            line_len += got;
            line[line_len] = 0;
            char *nl;
            while ((nl = strchr(line, '\n')) != NULL) {
                *nl = 0;
                double seconds;
                if (sscanf(line, "wait %ld %lf", &target, &seconds) == 2) {
                    deadline = now() + seconds;
                } else if (!strncmp(line, "stop", 4)) {
                    report();
                    return 0;
                }
                line_len -= nl + 1 - line;
                memmove(line, nl + 1, line_len + 1);
            }
        }
    }
}
