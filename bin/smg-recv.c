/*
 * smg-recv - the gateway's ESMTP server: customers' mail enters here.
 *
 * One process serves one connection on fd 0/1 (inetd, systemd Accept=yes),
 * on fd 3 given by systemd (LISTEN_FDS; a listening socket there is served
 * by a pool of worker processes), or, with --listen ADDR:PORT, on a socket
 * it opens itself for foreground use.  Accepted messages go to spool queue
 * "check"; "250" is sent only after the file and its folder entry are on
 * disk.  Environment: LISTEN_PID, LISTEN_FDS.  Exit status: 0 after a
 * session, 64 usage, 75 temporary failure, 78 config.  See smg-recv(8).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "lib/prog.h"
#include "lib/smtpd.h"

static const char USAGE[] =
    "usage: smg-recv [-dnhV] [-c FILE] [--log syslog|stderr] [--listen ADDR:PORT]\n"
    "                [--client ADDR]\n";

struct options {
    struct smg_prog prog; /* -c, -d, -n, --log */
    const char *listen;
    struct addrinfo *listen_ai; /* listen's address, found valid with the options */
    const char *client;
};

static volatile sig_atomic_t stopping;

/* on_stop - SIGTERM/SIGINT handler for the listener */
static void
on_stop(int sig)
{
    (void) sig;
    stopping = 1;
}

/* the listener's wake pipe, for on_child */
static int wake_fd = -1;

/* on_child - SIGCHLD handler: wakes the listener (a self-pipe: a signal
 * between its count of the workers and its poll() would wait a second) */
static void
on_child(int sig)
{
    int saved = errno;

    (void) sig;
    if (wake_fd >= 0 && write(wake_fd, "c", 1) < 0) {
        /* full pipe: a wake-up is pending anyway */
    }
    errno = saved;
}

/*
 * listen_address - ADDR:PORT ("[v6]:port" for IPv6, numeric only) as an
 * address to bind (freeaddrinfo), or NULL if spec is not one
 */
static struct addrinfo *
listen_address(const char *spec)
{
    struct addrinfo hints = {0}, *res = NULL;
    const char *colon = strrchr(spec, ':');
    char *host, *port;

    if (colon == NULL)
        return NULL;
    host = g_strndup(spec, (gsize) (colon - spec));
    port = g_strdup(colon + 1);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        res = NULL;
    g_free(host);
    g_free(port);
    return res;
}

/* parse_options - getopt_long; exits EX_USAGE on bad options */
static void
parse_options(int argc, char **argv, struct options *o)
{
    /* order kept: getopt lists an ambiguous abbreviation's matches in it */
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        SMG_PROG_LONGOPTS,
        {"client", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = smg_prog_getopt(&o->prog, argc, argv, SMG_PROG_OPTSTRING,
                                longopts)) != -1) {
        switch (c) {
        case 'l': o->listen = optarg; break;
        case 'a': o->client = optarg; break;
        default: smg_prog_usage(&o->prog);
        }
    }
    if (optind != argc)
        smg_prog_usage(&o->prog);
    if (o->listen != NULL) {
        /* a usage error, not a temporary one: a supervisor that restarts
         * on 75 would restart it for ever */
        o->listen_ai = listen_address(o->listen);
        if (o->listen_ai == NULL) {
            fprintf(stderr,
                    "smg-recv: --listen %s: expected ADDR:PORT with a numeric address "
                    "and port ([ADDR]:PORT for IPv6)\n",
                    o->listen);
            exit(EX_USAGE);
        }
    }
}

/* peer_name - the numeric address of the peer on fd, or NULL */
static char *
peer_name(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[NI_MAXHOST];

    if (getpeername(fd, (struct sockaddr *) &ss, &len) < 0)
        return NULL;
    if (getnameinfo((struct sockaddr *) &ss, len, host, sizeof host, NULL, 0,
                    NI_NUMERICHOST) != 0)
        return NULL;
    /* IPv4-mapped IPv6 reads better as IPv4 */
    if (g_str_has_prefix(host, "::ffff:") && strchr(host, '.') != NULL)
        return g_strdup(host + 7);
    return g_strdup(host);
}

/* open_listener - bind and listen on res, the address of spec (ADDR:PORT) */
static int
open_listener(const char *spec, const struct addrinfo *res)
{
    int one = 1;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);

    if (fd < 0)
        smg_fatal("socket: %s", g_strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0)
        smg_fatal("--listen %s: %s", spec, g_strerror(errno));
    return fd;
}

/*
 * The listener keeps a pool of worker processes that accept() on the
 * listening socket themselves, each serving up to worker_sessions
 * connections one after the other, as Postfix's smtpd does with max_use:
 * a fork and an exit per connection were a quarter of smg-recv's CPU time.
 * The parent only counts: each worker has a slot in a shared board that
 * says whether it is idle or in a session, and the parent forks a new
 * worker whenever fewer than spare_workers are idle, up to max_sessions in
 * all.  Connections beyond that wait in the listen queue.  A worker that
 * takes a connection and then sees fewer than spare_workers idle writes a
 * byte to the wake pipe, so that the parent looks again at once; the
 * parent looks every second anyway.
 *
 * Idle workers wait in epoll with EPOLLEXCLUSIVE, so that a connection
 * wakes one of them, not all: with poll() every idle worker woke for each
 * connection and all but one found nothing to accept (7 accept4 calls a
 * message with 16 workers).
 */
enum slot { SLOT_FREE = 0, SLOT_IDLE, SLOT_BUSY };

#ifndef EPOLLEXCLUSIVE
#define EPOLLEXCLUSIVE (1u << 28) /* Linux 4.5; older C library headers */
#endif

struct pool {
    int lfd;                 /* the listening socket */
    int wake[2];             /* workers -> parent: "I took a connection" */
    unsigned max, spare, reuse;
    pid_t *pids;             /* by slot; 0 = free */
    int *board;              /* by slot, shared: enum slot, g_atomic_int_* */
    unsigned live;
};

/* worker - serve up to pool->reuse connections from the listening socket */
static void G_GNUC_NORETURN
worker(struct smg_smtpd_env *env, struct pool *pool, unsigned slot)
{
    sigset_t term, old;
    struct sigaction sa = {0};
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    int ep;

    close(pool->wake[0]);
    /* an epoll set of this worker's own: an exclusive waiter each (a
     * kernel before 4.5 ignores the flag: every idle worker wakes) */
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, pool->lfd, &ev) < 0) {
        close(ep);
        ep = -1; /* ppoll, as every idle worker wakes */
    }
    sa.sa_handler = on_stop; /* sets the flag; the wait returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    /* A stop ends an idle worker at once and a busy one after its
     * session: the signals are blocked but while epoll_pwait (ppoll)
     * waits, so none can slip in between a check of the flag and the
     * wait */
    sigprocmask(SIG_BLOCK, &term, &old);
    for (unsigned n = 0; n < pool->reuse && !stopping;) {
        struct pollfd pfd = {pool->lfd, POLLIN, 0};
        struct epoll_event got;
        unsigned idle = 0;
        int cfd;
        char *peer;

        /* a second at most: before Linux 5.7 a woken exclusive waiter
         * stays first in line until it runs, and takes one connection of
         * those that woke it, while its siblings sleep */
        int r = ep >= 0 ? epoll_pwait(ep, &got, 1, 1000, &old) : ppoll(&pfd, 1, NULL, &old);

        if (r == 0)
            continue;
        if (r < 0) {
            if (errno != EINTR) {
                smg_log_warn("poll: %s", g_strerror(errno));
                g_usleep(100000);
            }
            continue;
        }
        /* the socket does not block: an idle sibling may have taken it */
        cfd = accept4(pool->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                && errno != ECONNABORTED) {
                smg_log_warn("accept: %s", g_strerror(errno));
                g_usleep(100000);
            }
            continue;
        }
        n++;
        /* seq_cst: of two workers taking connections at once, at least
         * one sees the other busy */
        g_atomic_int_set(&pool->board[slot], SLOT_BUSY);
        for (unsigned i = 0; i < pool->max; i++)
            idle += g_atomic_int_get(&pool->board[i]) == SLOT_IDLE;
        if (idle < pool->spare && write(pool->wake[1], "w", 1) < 0) {
            /* full pipe: the parent has a wake-up pending anyway */
        }
        peer = peer_name(cfd);
        (void) smg_smtpd_session(env, cfd, cfd, peer != NULL ? peer : "unknown");
        g_free(peer);
        close(cfd);
        /* a worker that has served its last session is no spare */
        g_atomic_int_set(&pool->board[slot], n < pool->reuse ? SLOT_IDLE : SLOT_FREE);
    }
    g_atomic_int_set(&pool->board[slot], SLOT_FREE);
    _exit(0);
}

/* spawn - fork a worker into a free slot; FALSE if fork fails */
static gboolean
spawn(struct smg_smtpd_env *env, struct pool *pool)
{
    unsigned slot = 0;
    pid_t pid;

    while (slot < pool->max && pool->pids[slot] != 0)
        slot++;
    if (slot == pool->max)
        return FALSE;
    g_atomic_int_set(&pool->board[slot], SLOT_IDLE);
    pid = fork();
    if (pid == 0)
        worker(env, pool, slot);
    if (pid < 0) {
        smg_log_warn("fork: %s", g_strerror(errno));
        g_atomic_int_set(&pool->board[slot], SLOT_FREE);
        return FALSE;
    }
    pool->pids[slot] = pid;
    pool->live++;
    return TRUE;
}

/*
 * reap - collect exited workers (waiting for them with block) and free
 * their slots; returns how many died of a signal other than a stop
 */
static unsigned
reap(struct pool *pool, gboolean block)
{
    pid_t pid;
    int status;
    unsigned crashed = 0;

    while ((pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0
           || (pid < 0 && errno == EINTR && block)) {
        gboolean crash;

        if (pid < 0)
            continue;
        crash = WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM;
        crashed += crash;
        for (unsigned i = 0; i < pool->max; i++) {
            if (pool->pids[i] == pid) {
                if (crash)
                    smg_log_warn("worker %ld killed by signal %d", (long) pid,
                                 WTERMSIG(status));
                pool->pids[i] = 0;
                g_atomic_int_set(&pool->board[i], SLOT_FREE);
                pool->live--;
                break;
            }
        }
    }
    return crashed;
}

/* serve_listener - keep a pool of workers accepting on lfd until a stop */
static int
serve_listener(const struct smg_conf *conf, struct smg_smtpd_env *env, int lfd)
{
    struct sigaction sa = {0};
    struct pool pool = {0};
    gsize board;

    pool.lfd = lfd;
    pool.max = (unsigned) smg_conf_int(conf, "recv", "max_sessions");
    pool.spare = MIN((unsigned) smg_conf_int(conf, "recv", "spare_workers"), pool.max);
    pool.reuse = (unsigned) smg_conf_int(conf, "recv", "worker_sessions");
    board = sizeof(int) * pool.max;
    pool.board = mmap(NULL, board, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (pool.board == MAP_FAILED || !g_unix_open_pipe(pool.wake, FD_CLOEXEC, NULL)
        || !g_unix_set_fd_nonblocking(pool.wake[0], TRUE, NULL)
        || !g_unix_set_fd_nonblocking(pool.wake[1], TRUE, NULL)) {
        smg_log_error("listener: cannot set up the worker pool: %s", g_strerror(errno));
        return EX_OSERR;
    }
    pool.pids = g_new0(pid_t, pool.max);
    if (!g_unix_set_fd_nonblocking(lfd, TRUE, NULL))
        smg_log_warn("listener: cannot make the socket non-blocking: %s", g_strerror(errno));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    wake_fd = pool.wake[1];
    sa.sa_handler = on_child; /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    smg_log_info("listener: up to %u sessions, %u spare workers, %u sessions a worker",
                 pool.max, pool.spare, pool.reuse);
    while (!stopping) {
        struct pollfd pfd = {pool.wake[0], POLLIN, 0};
        unsigned busy = 0;
        char drain[256];

        if (reap(&pool, FALSE) > 0)
            g_usleep(200000); /* do not fork as fast as workers crash */
        for (unsigned i = 0; i < pool.max; i++)
            busy += pool.pids[i] != 0 && g_atomic_int_get(&pool.board[i]) == SLOT_BUSY;
        while (pool.live - busy < pool.spare && pool.live < pool.max)
            if (!spawn(env, &pool))
                break;
        if (poll(&pfd, 1, 1000) > 0)
            while (read(pool.wake[0], drain, sizeof drain) > 0)
                ;
    }
    smg_log_info("listener stopping: waiting for %u sessions", pool.live);
    for (unsigned i = 0; i < pool.max; i++)
        if (pool.pids[i] != 0)
            kill(pool.pids[i], SIGTERM);
    (void) reap(&pool, TRUE);
    g_free(pool.pids);
    munmap(pool.board, board);
    return 0;
}

/* socket_activated - the fd systemd passed (LISTEN_FDS), or -1 */
static int
socket_activated(void)
{
    const char *pid = getenv("LISTEN_PID");
    const char *fds = getenv("LISTEN_FDS");

    if (pid == NULL || fds == NULL || atol(pid) != (long) getpid() || atoi(fds) < 1)
        return -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return 3;
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    struct smg_conf *conf = NULL;
    struct smg_smtpd_env *env = NULL;
    GError *err = NULL;
    enum smg_status st;
    int fd, lfd = -1, rc;
    int acceptconn = 0;
    socklen_t len = sizeof acceptconn;

    smg_prog_init(&o.prog, "smg-recv", USAGE);
    parse_options(argc, argv, &o);
    /* -d in the foreground logs to stderr even after --log syslog */
    if (o.listen != NULL && o.prog.debug)
        o.prog.log = SMG_LOG_STDERR;
    conf = smg_prog_config(&o.prog);
    st = smg_smtpd_setup(conf, &env, &err);
    /* the socket is opened while still root, so that a port below 1024
     * (25, 587) can be bound; the sessions run as [spool] user */
    if (st == SMG_OK && o.listen != NULL)
        lfd = open_listener(o.listen, o.listen_ai);
    if (st == SMG_OK)
        st = smg_privs_drop(conf, &err);
    if (st == SMG_OK)
        st = smg_smtpd_open_spool(env, &err);
    if (st != SMG_OK) {
        smg_log_error("%s", err->message);
        fprintf(stderr, "smg-recv: fatal: %s\n", err->message);
        g_error_free(err);
        rc = smg_status_exit(st);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    if (o.listen != NULL) {
        smg_log_info("listening on %s", o.listen);
        rc = serve_listener(conf, env, lfd);
        goto out;
    }
    fd = socket_activated();
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acceptconn, &len) == 0
        && acceptconn) {
        rc = serve_listener(conf, env, fd);
        goto out;
    }
    if (fd < 0)
        fd = 0;
    {
        char *peer = o.client != NULL ? g_strdup(o.client) : peer_name(fd);
        st = smg_smtpd_session(env, fd, fd == 0 ? 1 : fd, peer != NULL ? peer : "local");
        g_free(peer);
    }
    rc = smg_status_exit(st);
out:
    if (o.listen_ai != NULL)
        freeaddrinfo(o.listen_ai);
    smg_smtpd_free(env);
    smg_conf_free(conf);
    return rc;
}
