/*
 * smg-recv - the gateway's ESMTP server: customers' mail enters here.
 *
 * One process serves one connection on fd 0/1 (inetd, systemd Accept=yes),
 * on fd 3 given by systemd (LISTEN_FDS; a listening socket there is served
 * with an accept-and-fork loop), or, with --listen ADDR:PORT, on a socket it
 * opens itself for foreground use.  Accepted messages go to spool queue
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>

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

/* on_child - SIGCHLD handler: only interrupts accept() */
static void
on_child(int sig)
{
    (void) sig;
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

/* open_listener - bind and listen on ADDR:PORT ("[v6]:port" for IPv6) */
static int
open_listener(const char *spec)
{
    struct addrinfo hints = {0}, *res = NULL;
    char *host, *port;
    const char *colon = strrchr(spec, ':');
    int fd = -1, one = 1;

    if (colon == NULL)
        smg_fatal("--listen %s: expected ADDR:PORT", spec);
    host = g_strndup(spec, (gsize) (colon - spec));
    port = g_strdup(colon + 1);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        smg_fatal("--listen %s: bad address", spec);
    fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0)
        smg_fatal("socket: %s", g_strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0)
        smg_fatal("--listen %s: %s", spec, g_strerror(errno));
    freeaddrinfo(res);
    g_free(host);
    g_free(port);
    return fd;
}

/* serve_listener - accept connections and fork one session each */
static int
serve_listener(struct smg_smtpd_env *env, int lfd)
{
    struct sigaction sa = {0};

    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* no SA_RESTART: accept() returns EINTR and the loop reaps children */
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!stopping) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        int e = errno;
        pid_t pid;

        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (cfd < 0) {
            if (e != EINTR && e != ECONNABORTED)
                smg_log_warn("accept: %s", g_strerror(e));
            continue;
        }
        pid = fork();
        if (pid == 0) {
            char *peer = peer_name(cfd);
            enum smg_status st;

            close(lfd);
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            signal(SIGCHLD, SIG_DFL);
            st = smg_smtpd_session(env, cfd, cfd, peer != NULL ? peer : "unknown");
            g_free(peer);
            _exit(smg_status_exit(st));
        }
        if (pid < 0)
            smg_log_warn("fork: %s", g_strerror(errno));
        close(cfd);
    }
    smg_log_info("listener stopping");
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
    int fd;
    int acceptconn = 0;
    socklen_t len = sizeof acceptconn;

    smg_prog_init(&o.prog, "smg-recv", USAGE);
    parse_options(argc, argv, &o);
    /* -d in the foreground logs to stderr even after --log syslog */
    if (o.listen != NULL && o.prog.debug)
        o.prog.log = SMG_LOG_STDERR;
    conf = smg_prog_config(&o.prog);
    st = smg_smtpd_setup(conf, &env, &err);
    if (st == SMG_OK)
        st = smg_privs_drop(conf, &err);
    if (st == SMG_OK)
        st = smg_smtpd_open_spool(env, &err);
    if (st != SMG_OK) {
        smg_log_error("%s", err->message);
        fprintf(stderr, "smg-recv: fatal: %s\n", err->message);
        return smg_status_exit(st);
    }
    signal(SIGPIPE, SIG_IGN);
    if (o.listen != NULL) {
        fd = open_listener(o.listen);
        smg_log_info("listening on %s", o.listen);
        return serve_listener(env, fd);
    }
    fd = socket_activated();
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acceptconn, &len) == 0
        && acceptconn)
        return serve_listener(env, fd);
    if (fd < 0)
        fd = 0;
    {
        char *peer = o.client != NULL ? g_strdup(o.client) : peer_name(fd);
        st = smg_smtpd_session(env, fd, fd == 0 ? 1 : fd, peer != NULL ? peer : "local");
        g_free(peer);
    }
    smg_smtpd_free(env);
    smg_conf_free(conf);
    return smg_status_exit(st);
}
