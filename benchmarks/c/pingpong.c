/* The C limit for the benchmark cases: sendmsg/recvmsg loops on a socketpair.
 *
 * Usage: pingpong CASE ITERATIONS
 * Runs the operation of CASE (a c_key of benchmarks/_*_cases.py) ITERATIONS
 * times after a short warm-up and prints the elapsed nanoseconds, so that the
 * Python runner can interleave it with the Python implementations. Each case
 * does the work of its Python counterparts: MSG_NOSIGNAL on sends,
 * MSG_CMSG_CLOEXEC on receives, truncation checked, received fds closed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 8
#define BIG (64 * 1024)

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
    struct msghdr msg = {0};
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

static void op_pingpong(void) {
    send_all(a, small, sizeof small, 0);
    recv_some(a, small, sizeof small, 0);
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
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

static pid_t start_echo_peer(void) {
    new_pair(SOCK_SEQPACKET);
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        char buf[BIG];
        close(a);
        for (;;) {
            ssize_t n = recv(b, buf, sizeof buf, 0);
            if (n <= 0) _exit(0);
            if (send(b, buf, n, MSG_NOSIGNAL) != n) _exit(1);
        }
    }
    close(b);
    b = -1;
    return child;
}

static const struct {
    const char *key;
    void (*op)(void);
} CASES[] = {
    {"send_recv_64", op_send_recv_64}, {"fds_1", op_fds_1},
    {"fds_8", op_fds_8},               {"recv_64k", op_recv_64k},
    {"local_addr", op_local_addr},     {"pingpong", op_pingpong},
};

int main(int argc, char **argv) {
    if (argc != 3 || atol(argv[2]) < 1) {
        fprintf(stderr, "usage: %s CASE ITERATIONS\n", argv[0]);
        return 2;
    }
    const char *key = argv[1];
    long n = atol(argv[2]);
    void (*op)(void) = NULL;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        if (strcmp(CASES[i].key, key) == 0) op = CASES[i].op;
    if (op == NULL) {
        fprintf(stderr, "unknown case %s\n", key);
        return 2;
    }
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) die("pipe2");
    pid_t child = -1;
    if (op == op_local_addr)
        bind_abstract();
    else if (op == op_pingpong)
        child = start_echo_peer();
    else
        new_pair(SOCK_STREAM);

    for (long i = 0; i < n / 8 + 1; i++) op();
    double start = now_ns();
    for (long i = 0; i < n; i++) op();
    printf("%.0f\n", now_ns() - start);

    close(a);
    if (b >= 0) close(b);
    if (child > 0 && waitpid(child, NULL, 0) < 0) die("waitpid");
    return 0;
}
