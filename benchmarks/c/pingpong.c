/* The C limit for the benchmark cases: the same system calls as the Python rows.
 *
 * Usage: pingpong CASE ITERATIONS [cpu|wall]
 *        pingpong echo FD
 * Runs the operation of CASE (a c_key of benchmarks/_*_cases.py) ITERATIONS
 * times after a short warm-up and prints the elapsed nanoseconds (CPU time of
 * the thread, or wall time: the default), so that the Python runner can
 * interleave it with the Python implementations. Each case
 * does the work of its Python counterparts, on the same socket type, with the
 * same calls and flags: MSG_NOSIGNAL on sends, MSG_CMSG_CLOEXEC on receives
 * where the Python code passes it, truncation checked, received fds closed.
 * "echo FD" is the ping-pong peer for the Python rows: it echoes every packet
 * of the seqpacket socket FD until EOF, so that every row has the same peer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 8
#define BIG (64 * 1024)
#define BATCH 32
#define MAX_CONNS 1000

static int a, b, pipe_fds[2];
static char small[64], big[BIG], sink[BIG];

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void send_all(int fd, const char *data, size_t len, int nfds) {
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {(void *)data, len};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds) {
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        int *slots = (int *)CMSG_DATA(cmsg);
        for (int i = 0; i < nfds; i++) slots[i] = pipe_fds[0];
    }
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)len) die("sendmsg");
}

static size_t recv_some(int fd, char *into, size_t len, int maxfds) {
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {into, len};
    struct msghdr msg = {0}; /* no msg_name: uds's recv_fds does not ask for it */
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (maxfds) {
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(maxfds * sizeof(int));
    }
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) die("recvmsg");
    if (msg.msg_flags & MSG_CTRUNC) {
        fprintf(stderr, "control data truncated\n");
        exit(1);
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *slots = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) close(slots[i]);
    }
    return (size_t)n;
}

static void op_send_recv_64(void) {
    send_all(a, small, sizeof small, 0);
    recv_some(b, small, sizeof small, 0);
}

static void op_fds_1(void) {
    send_all(a, "x", 1, 1);
    recv_some(b, sink, 1, 1);
}

static void op_fds_8(void) {
    send_all(a, "x", 1, 8);
    recv_some(b, sink, 1, 8);
}

static void op_recv_64k(void) {
    send_all(a, big, BIG, 0);
    for (size_t got = 0; got < BIG;) got += recv_some(b, sink + got, BIG - got, 0);
}

static void op_local_addr(void) {
    struct sockaddr_un addr;
    socklen_t len = sizeof addr;
    if (getsockname(a, (struct sockaddr *)&addr, &len) < 0) die("getsockname");
}

/* UnixSeqpacketConn.send/recv: send(2) and recv(2), no control data. */
static void plain_send(int fd) {
    if (send(fd, small, sizeof small, MSG_NOSIGNAL) != (ssize_t)sizeof small) die("send");
}

static void plain_recv(int fd) {
    if (recv(fd, sink, sizeof small, 0) != (ssize_t)sizeof small) die("recv");
}

static void op_seqpacket_64(void) {
    plain_send(a);
    plain_recv(b);
}

static void op_seqpacket_loop(void) {
    for (int i = 0; i < BATCH; i++) plain_send(a);
    for (int i = 0; i < BATCH; i++) plain_recv(b);
}

static void op_dgram_loop(void) {
    for (int i = 0; i < BATCH; i++) send_all(a, small, sizeof small, 0);
    for (int i = 0; i < BATCH; i++) recv_some(b, sink, sizeof small, 0);
}

/* send_many/recv_many: one sendmmsg and one recvmmsg for the whole batch; for
 * datagrams, recv_many asks for each sender's address. */
static void mmsg(int want_addr) {
    static struct mmsghdr msgs[BATCH];
    static struct iovec iovs[BATCH];
    static struct sockaddr_un names[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iovs[i].iov_base = small;
        iovs[i].iov_len = sizeof small;
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    if (sendmmsg(a, msgs, BATCH, MSG_NOSIGNAL) != BATCH) die("sendmmsg");
    for (int i = 0; i < BATCH; i++) {
        iovs[i].iov_base = sink + i * sizeof small;
        if (want_addr) {
            msgs[i].msg_hdr.msg_name = &names[i];
            msgs[i].msg_hdr.msg_namelen = sizeof names[i];
        }
    }
    int got = recvmmsg(b, msgs, BATCH, MSG_CMSG_CLOEXEC | MSG_WAITFORONE, NULL);
    if (got != BATCH) die("recvmmsg");
    for (int i = 0; i < got; i++)
        if (msgs[i].msg_len != sizeof small || msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
            fprintf(stderr, "packet truncated\n");
            exit(1);
        }
}

static void op_seqpacket_mmsg(void) { mmsg(0); }

static void op_dgram_mmsg(void) { mmsg(1); }

static void op_seqpacket_fds_0(void) {
    send_all(a, small, sizeof small, 0);
    recv_some(b, sink, sizeof small, 0);
}

static void op_pingpong(void) {
    send_all(a, small, sizeof small, 0);
    recv_some(a, small, sizeof small, 0);
}

static clockid_t clock_id = CLOCK_MONOTONIC;

/* The selectors echo: every client sends 64 B, the loop echoes each message
 * epoll reports (recv then send on the server end), every client reads its
 * reply, as benchmarks/_selector_cases.py does with selectors.EpollSelector. */
static int conns, epoll_fd = -1, clients[MAX_CONNS], servers[MAX_CONNS];

#ifdef __linux__
static void open_conns(int count) {
    conns = count;
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) die("epoll_create1");
    for (int i = 0; i < count; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
            die("socketpair");
        clients[i] = sv[0];
        servers[i] = sv[1];
        struct epoll_event event = {.events = EPOLLIN, .data.fd = sv[1]};
        if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, sv[1], &event) < 0) die("epoll_ctl");
    }
}

static void op_echo_burst(void) {
    static struct epoll_event events[MAX_CONNS];
    for (int i = 0; i < conns; i++) plain_send(clients[i]);
    for (int echoed = 0; echoed < conns;) {
        /* Python's EpollSelector asks for as many events as fds are registered. */
        int ready = epoll_wait(epoll_fd, events, conns, -1);
        if (ready < 0) die("epoll_wait");
        for (int i = 0; i < ready; i++) {
            int server = events[i].data.fd;
            plain_recv(server);
            plain_send(server);
            echoed++;
        }
    }
    for (int i = 0; i < conns; i++) plain_recv(clients[i]);
}
#else
static void open_conns(int count) {
    (void)count;
    fprintf(stderr, "the selectors cases use epoll: Linux only\n");
    exit(2);
}

static void op_echo_burst(void) {}
#endif

static double now_ns(void) {
    struct timespec t;
    clock_gettime(clock_id, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void new_pair(int type) {
    int sv[2];
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
    a = sv[0];
    b = sv[1];
}

static void bind_abstract(void) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "uds-bench-c-%d", (int)getpid());
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1);
    a = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (a < 0 || bind(a, (struct sockaddr *)&addr, len) < 0) die("bind");
    b = -1;
}

/* The highest CPU this process may run on: the Python side picks the same one. */
static void pin_to_one_cpu(void) {
#ifndef __linux__
    fprintf(stderr, "pinning to a CPU is only implemented for Linux\n");
    exit(2);
#else
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) < 0) die("sched_getaffinity");
    int cpu = -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &allowed)) cpu = i;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) < 0) die("sched_setaffinity");
#endif
}

static void echo(int fd) {
    char buf[BIG];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) _exit(n < 0);
        if (send(fd, buf, n, MSG_NOSIGNAL) != n) _exit(1);
    }
}

static pid_t start_echo_peer(void) {
    new_pair(SOCK_SEQPACKET);
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        close(a);
        echo(b);
    }
    close(b);
    b = -1;
    return child;
}

enum setup { PAIR, ABSTRACT, PEER, PINNED_PEER, CONNS };

static const struct {
    const char *key;
    void (*op)(void);
    enum setup setup;
    int type; /* the socket type; for CONNS, the number of connections */
} CASES[] = {
    {"send_recv_64", op_send_recv_64, PAIR, SOCK_STREAM},
    {"fds_1", op_fds_1, PAIR, SOCK_STREAM},
    {"fds_8", op_fds_8, PAIR, SOCK_STREAM},
    {"recv_64k", op_recv_64k, PAIR, SOCK_STREAM},
    {"local_addr", op_local_addr, ABSTRACT, SOCK_STREAM},
    {"seqpacket_64", op_seqpacket_64, PAIR, SOCK_SEQPACKET},
    {"seqpacket_fds_0", op_seqpacket_fds_0, PAIR, SOCK_SEQPACKET},
    {"seqpacket_fds_1", op_fds_1, PAIR, SOCK_SEQPACKET},
    {"seqpacket_fds_8", op_fds_8, PAIR, SOCK_SEQPACKET},
    {"seqpacket_loop_32", op_seqpacket_loop, PAIR, SOCK_SEQPACKET},
    {"seqpacket_mmsg_32", op_seqpacket_mmsg, PAIR, SOCK_SEQPACKET},
    {"dgram_loop_32", op_dgram_loop, PAIR, SOCK_DGRAM},
    {"dgram_mmsg_32", op_dgram_mmsg, PAIR, SOCK_DGRAM},
    {"selectors_10", op_echo_burst, CONNS, 10},
    {"selectors_100", op_echo_burst, CONNS, 100},
    {"selectors_1000", op_echo_burst, CONNS, 1000},
    {"pingpong", op_pingpong, PINNED_PEER, SOCK_SEQPACKET},
    {"pingpong_unpinned", op_pingpong, PEER, SOCK_SEQPACKET},
};

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "echo") == 0) echo(atoi(argv[2]));
    if (argc < 3 || argc > 4 || atol(argv[2]) < 1 ||
        (argc == 4 && strcmp(argv[3], "cpu") != 0 && strcmp(argv[3], "wall") != 0)) {
        fprintf(stderr, "usage: %s CASE ITERATIONS [cpu|wall] | %s echo FD\n", argv[0], argv[0]);
        return 2;
    }
    if (argc == 4 && strcmp(argv[3], "cpu") == 0) clock_id = CLOCK_THREAD_CPUTIME_ID;
    const char *key = argv[1];
    long n = atol(argv[2]);
    size_t which = sizeof CASES / sizeof CASES[0];
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        if (strcmp(CASES[i].key, key) == 0) which = i;
    if (which == sizeof CASES / sizeof CASES[0]) {
        fprintf(stderr, "unknown case %s\n", key);
        return 2;
    }
    void (*op)(void) = CASES[which].op;
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) die("pipe2");
    pid_t child = -1;
    switch (CASES[which].setup) {
    case ABSTRACT:
        bind_abstract();
        break;
    case PINNED_PEER:
        pin_to_one_cpu(); /* before the fork: the peer inherits it */
        child = start_echo_peer();
        break;
    case PEER:
        child = start_echo_peer();
        break;
    case PAIR:
        new_pair(CASES[which].type);
        break;
    case CONNS:
        open_conns(CASES[which].type);
        a = clients[0];
        b = servers[0];
        break;
    }

    for (long i = 0; i < n / 8 + 1; i++) op();
    double start = now_ns();
    for (long i = 0; i < n; i++) op();
    printf("%.0f\n", now_ns() - start);

    if (conns) {
        for (int i = 0; i < conns; i++) {
            close(clients[i]);
            close(servers[i]);
        }
        close(epoll_fd);
        a = b = -1;
    }
    if (a >= 0) close(a);
    if (b >= 0) close(b);
    if (child > 0 && waitpid(child, NULL, 0) < 0) die("waitpid");
    return 0;
}
