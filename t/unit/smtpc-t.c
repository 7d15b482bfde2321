/*
 * smtpc-t.c - unit tests for lib/smtpc: reply parsing, the wire form of a
 * message (CRLF, dot-stuffing), and sessions against a scripted server in
 * a child process on 127.0.0.1: pipelining (MAIL, RCPT, DATA in one
 * batch: the server reads them all before it answers), per-recipient
 * results, a refused MAIL under pipelining and the RSET before the next
 * transaction, HELO after a refused EHLO and lock-step without
 * PIPELINING, a connection lost mid-transaction, a 554 greeting, a refused
 * connection and the source address.
 *
 * The server follows a script: "C:text" reads a client line that must
 * start with text, "S:text" sends a line, "P:ms" pauses, "D" reads a
 * message up to its final dot and checks its dot-stuffing, "X" closes.  It exits non-zero
 * on any mismatch, which the parent reports.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/smtpc.h"
#include "t/tap/basic.h"

static struct smg_smtpc_opts opts = {NULL, "client.test", 2000, 2000, 2000};

/* parse - parse reply lines given as one string with '\n' between */
static gboolean
parse(const char *text, struct smg_smtpc_reply *r)
{
    char **lines = g_strsplit(text, "\n", -1);
    gboolean ok = smg_smtpc_parse_reply((const char *const *) lines,
                                        g_strv_length(lines), r);

    g_strfreev(lines);
    return ok;
}

static void
test_parse(void)
{
    struct smg_smtpc_reply r;

    ok(parse("250 2.1.5 Ok", &r) && r.code == 250 && strcmp(r.dsn, "2.1.5") == 0
           && strcmp(r.text, "250 2.1.5 Ok") == 0,
       "one line with an enhanced code");
    smg_smtpc_reply_clear(&r);
    ok(parse("550-5.1.1 no such user\n550-5.1.1 really\n550 5.1.1 none", &r)
           && r.code == 550 && strcmp(r.dsn, "5.1.1") == 0
           && strcmp(r.text, "550 5.1.1 no such user really none") == 0,
       "multi-line joined, repeated code kept once");
    smg_smtpc_reply_clear(&r);
    ok(parse("451 try later", &r) && strcmp(r.dsn, "4.0.0") == 0,
       "no enhanced code: x.0.0 from the reply code");
    smg_smtpc_reply_clear(&r);
    ok(parse("452 5.2.2 mismatched class", &r) && strcmp(r.dsn, "4.0.0") == 0,
       "an enhanced code of another class is not taken");
    smg_smtpc_reply_clear(&r);
    ok(parse("250", &r) && r.code == 250 && strcmp(r.text, "250") == 0, "bare code");
    smg_smtpc_reply_clear(&r);
    ok(!parse("250-a\n251 b", &r), "codes differ between lines");
    ok(!parse("25x ok", &r), "not a number");
    ok(!parse("250_ok", &r), "bad separator");
    ok(!parse("250 a\n250 b", &r), "a last line before the end");
    ok(!parse("199 low", &r), "code below 200");
    ok(!parse("", &r), "empty line");
}

static void
test_wire(void)
{
    GString *w = g_string_new(NULL);
    gboolean eight;

    eight = smg_smtpc_wire("a\n.b\n..c\nd", 10, w);
    is_string("a\r\n..b\r\n...c\r\nd\r\n.\r\n", w->str, "LF to CRLF, dots doubled, last line ended");
    ok(!eight, "7-bit");
    g_string_truncate(w, 0);
    eight = smg_smtpc_wire("x\r\n.\r\n", 6, w);
    is_string("x\r\n..\r\n.\r\n", w->str, "CRLF kept, a lone dot stuffed");
    g_string_truncate(w, 0);
    smg_smtpc_wire("a\r.\r\nb\r.\rc\r", 11, w);
    is_string("a\r\n..\r\nb\r\n..\r\nc\r\n.\r\n", w->str,
              "a bare CR ends a line, so no \"<CR>.<CR>\" reaches the receiver");
    g_string_truncate(w, 0);
    eight = smg_smtpc_wire("caf\xc3\xa9\n", 6, w);
    ok(eight, "8-bit detected");
    g_string_truncate(w, 0);
    smg_smtpc_wire("", 0, w);
    is_string(".\r\n", w->str, "empty message");
    is_int(0, (int) smg_smtpc_size(w->str, w->len), "empty message: size 0");
    g_string_truncate(w, 0);
    smg_smtpc_wire(".a\r\nb\r\n.\r\n..\r\n", 14, w);
    is_int(14, (int) smg_smtpc_size(w->str, w->len),
           "size: the stuffing dots and the final dot not counted");
    g_string_truncate(w, 0);
    smg_smtpc_wire("a\n.b", 4, w);
    is_int(7, (int) smg_smtpc_size(w->str, w->len), "size: lines counted with CRLF");
    g_string_free(w, TRUE);
}

/* listener - a listening socket on 127.0.0.1, port in *port */
static int
listener(unsigned *port)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) < 0 || listen(fd, 4) < 0
        || getsockname(fd, (struct sockaddr *) &a, &len) < 0)
        bail("listener: %s", g_strerror(errno));
    *port = ntohs(a.sin_port);
    return fd;
}

/* serve - the child: accept one connection and follow script */
static G_NORETURN void
serve(int lfd, const char *const *script, const char *peer_want)
{
    int fd = accept(lfd, NULL, NULL);
    FILE *in, *out;
    char line[4096];

    if (fd < 0)
        _exit(10);
    if (peer_want != NULL) {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        char buf[64];

        if (getpeername(fd, (struct sockaddr *) &a, &len) < 0
            || strcmp(inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf), peer_want) != 0) {
            fprintf(stderr, "peer is not %s\n", peer_want);
            _exit(11);
        }
    }
    in = fdopen(fd, "r");
    out = fdopen(dup(fd), "w");
    for (const char *const *s = script; *s != NULL; s++) {
        if ((*s)[0] == 'S') {
            fprintf(out, "%s\r\n", *s + 2);
            fflush(out);
        } else if ((*s)[0] == 'C') {
            if (fgets(line, sizeof line, in) == NULL) {
                fprintf(stderr, "EOF, wanted %s\n", *s + 2);
                _exit(12);
            }
            if (strncmp(line, *s + 2, strlen(*s + 2)) != 0) {
                fprintf(stderr, "got %s wanted %s\n", line, *s + 2);
                _exit(13);
            }
        } else if ((*s)[0] == 'D') {
            gboolean stuffed = FALSE;

            while (fgets(line, sizeof line, in) != NULL && strcmp(line, ".\r\n") != 0)
                if (strcmp(line, "..dot\r\n") == 0)
                    stuffed = TRUE;
            if (!stuffed) {
                fprintf(stderr, "no stuffed line\n");
                _exit(14);
            }
        } else if ((*s)[0] == 'P') {
            g_usleep((gulong) atoi(*s + 2) * 1000);
        } else if ((*s)[0] == 'X') {
            _exit(0);
        }
    }
    _exit(0);
}

/* child - fork the scripted server; the parent closes lfd */
static pid_t
child(int lfd, const char *const *script, const char *peer_want)
{
    pid_t pid = fork();

    if (pid == 0)
        serve(lfd, script, peer_want);
    close(lfd);
    return pid;
}

/* reaped - whether the child exited 0 */
static gboolean
reaped(pid_t pid)
{
    int status;

    return waitpid(pid, &status, 0) == pid && WIFEXITED(status)
           && WEXITSTATUS(status) == 0;
}

static const char MSG[] = "Subject: t\r\n\r\n.dot\r\n";

static void
test_pipelined(void)
{
    static const char *const script[] = {
        "S:220 s.test ESMTP",
        "C:EHLO client.test",
        "S:250-s.test", "S:250-PIPELINING", "S:250-SIZE 1000", "S:250-DSN", "S:250 8BITMIME",
        /* the whole batch arrives before any reply */
        /* SIZE= counts the message, not its stuffing dot or final dot */
        "C:MAIL FROM:<a@b.test> SIZE=20 RET=HDRS", "C:RCPT TO:<ok@c.test> NOTIFY=FAILURE",
        "C:RCPT TO:<no@c.test>", "C:DATA",
        "S:250 2.1.0 Ok", "S:250 2.1.5 Ok", "S:550 5.1.1 no such user", "S:354 go",
        "D", "S:250 2.0.0 queued as X",
        /* a refused MAIL: RCPT and DATA answered 503 */
        "C:MAIL FROM:<bad@b.test>", "C:RCPT TO:<x@c.test>", "C:DATA",
        "S:553 5.7.1 sender refused", "S:503 5.5.1 no MAIL", "S:503 5.5.1 no MAIL",
        /* the next transaction starts with RSET */
        "C:RSET", "C:MAIL FROM:<a@b.test>", "C:RCPT TO:<y@c.test>", "C:DATA",
        "S:250 2.0.0 reset", "S:250 2.1.0 Ok", "S:451 4.3.0 busy", "S:554 5.5.1 no rcpt",
        "C:RSET", "C:MAIL", "C:RCPT", "C:DATA",
        "S:250 Ok", "S:250 Ok", "S:250 Ok", "S:354 go", "D",
        /* the connection drops before the final reply */
        "X",
        NULL,
    };
    unsigned port;
    int lfd = listener(&port);
    pid_t pid = child(lfd, script, NULL);
    struct smg_smtpc *c = NULL;
    GError *err = NULL;
    GString *w = g_string_new(NULL);
    struct smg_smtpc_rcpt r[2] = {{"ok@c.test", "NOTIFY=FAILURE ORCPT=rfc822;ok@c.test", {0}},
                                  {"no@c.test", NULL, {0}}};
    struct smg_smtpc_rcpt one[1] = {{"x@c.test", NULL, {0}}};
    enum smg_status st;

    smg_smtpc_wire(MSG, strlen(MSG), w);
    ok(smg_smtpc_connect(&opts, "s.test", "127.0.0.1", port, &c, &err) == SMG_OK,
       "connect and greeting");
    ok(smg_smtpc_ehlo(c, &err) == SMG_OK, "EHLO");
    ok(smg_smtpc_has(c, "pipelining") && smg_smtpc_has(c, "SIZE")
           && !smg_smtpc_has(c, "STARTTLS"),
       "extensions recorded");
    ok(g_str_has_prefix(smg_smtpc_peer(c), "s.test[127.0.0.1]:"), "peer name");
    st = smg_smtpc_send(c, "a@b.test", "RET=HDRS", r, 2, w->str, w->len, &err);
    ok(st == SMG_OK, "pipelined transaction");
    is_int(250, r[0].reply.code, "ok@ gets the final reply");
    is_string("end of DATA", r[0].reply.cmd, "... to end of DATA");
    is_string("250 2.0.0 queued as X", r[0].reply.text, "... its text");
    is_int(550, r[1].reply.code, "no@ gets its RCPT reply");
    is_string("5.1.1", r[1].reply.dsn, "... with its DSN");
    is_string("RCPT TO", r[1].reply.cmd, "... to RCPT TO");
    smg_smtpc_rcpts_clear(r, 2);

    st = smg_smtpc_send(c, "bad@b.test", NULL, one, 1, w->str, w->len, &err);
    ok(st == SMG_OK && smg_smtpc_usable(c), "refused MAIL: connection still usable");
    is_int(553, one[0].reply.code, "the recipient gets the MAIL reply");
    is_string("MAIL FROM", one[0].reply.cmd, "... to MAIL FROM");
    smg_smtpc_rcpts_clear(one, 1);

    one[0].addr = "y@c.test";
    st = smg_smtpc_send(c, "a@b.test", NULL, one, 1, w->str, w->len, &err);
    ok(st == SMG_OK, "RSET pipelined first, then a 451 for the only recipient");
    is_int(451, one[0].reply.code, "451 kept");
    smg_smtpc_rcpts_clear(one, 1);

    one[0].addr = "z@c.test";
    st = smg_smtpc_send(c, "a@b.test", NULL, one, 1, w->str, w->len, &err);
    ok(st == SMG_TEMPFAIL, "lost connection before the final reply: TEMPFAIL");
    is_int(0, one[0].reply.code, "no reply code");
    is_string("4.4.2", one[0].reply.dsn, "DSN 4.4.2");
    ok(strstr(one[0].reply.text, "while waiting for the reply to the end of data") != NULL,
       "says where: %s", one[0].reply.text);
    ok(!smg_smtpc_usable(c), "connection unusable");
    g_clear_error(&err);
    smg_smtpc_rcpts_clear(one, 1);
    smg_smtpc_quit(c);
    ok(reaped(pid), "server saw the script through");
    g_string_free(w, TRUE);
}

static void
test_lockstep(void)
{
    static const char *const script[] = {
        "S:220 s.test",
        "C:EHLO client.test", "S:502 5.5.2 what?",
        "C:HELO client.test", "S:250 s.test",
        "C:MAIL FROM:<a@b.test>\r", "S:250 Ok",
        "C:RCPT TO:<p@c.test>\r", "S:550 no",
        "C:RCPT TO:<q@c.test>\r", "S:250 Ok",
        "C:DATA", "S:354 go", "D", "S:250 done",
        "C:QUIT", "S:221 bye",
        NULL,
    };
    unsigned port;
    int lfd = listener(&port);
    pid_t pid = child(lfd, script, "127.0.0.2");
    struct smg_smtpc *c = NULL;
    GError *err = NULL;
    GString *w = g_string_new(NULL);
    struct smg_smtpc_rcpt r[2] = {{"p@c.test", "NOTIFY=NEVER", {0}}, {"q@c.test", NULL, {0}}};
    struct smg_smtpc_opts o = opts;

    o.bind = "127.0.0.2";
    smg_smtpc_wire(MSG, strlen(MSG), w);
    ok(smg_smtpc_connect(&o, "s.test", "127.0.0.1", port, &c, &err) == SMG_OK,
       "connect from 127.0.0.2");
    ok(smg_smtpc_ehlo(c, &err) == SMG_OK, "HELO after a refused EHLO");
    ok(!smg_smtpc_has(c, "PIPELINING"), "no extensions after HELO");
    ok(smg_smtpc_send(c, "a@b.test", "BODY=8BITMIME", r, 2, w->str, w->len, &err) == SMG_OK,
       "lock-step transaction, no parameters without extensions");
    is_int(550, r[0].reply.code, "p refused");
    is_int(250, r[1].reply.code, "q accepted");
    smg_smtpc_rcpts_clear(r, 2);
    smg_smtpc_quit(c);
    ok(reaped(pid), "server saw the source address and the script");
    g_string_free(w, TRUE);
}

/* test_bad_params - envelope values that are no esmtp-value are not sent */
static void
test_bad_params(void)
{
    static const char *const script[] = {
        "S:220 s.test",
        "C:EHLO client.test", "S:250-s.test", "S:250-DSN", "S:250 8BITMIME",
        /* ENVID "a b" and ORCPT with a CR would have gone out as they
         * were: a command the server refuses, or a second command */
        "C:MAIL FROM:<a@b.test> BODY=8BITMIME RET=FULL\r", "S:250 Ok",
        "C:RCPT TO:<p@c.test> NOTIFY=FAILURE\r", "S:250 Ok",
        "C:DATA", "S:354 go", "D", "S:250 done",
        "C:QUIT", "S:221 bye",
        NULL,
    };
    unsigned port;
    int lfd = listener(&port);
    pid_t pid = child(lfd, script, NULL);
    struct smg_smtpc *c = NULL;
    GError *err = NULL;
    GString *w = g_string_new(NULL);
    struct smg_smtpc_rcpt r[1] = {
        {"p@c.test", "NOTIFY=FAILURE ORCPT=\"rfc822;p@c.test\rRSET\"", {0}}};

    smg_smtpc_wire(MSG, strlen(MSG), w);
    ok(smg_smtpc_connect(&opts, "s.test", "127.0.0.1", port, &c, &err) == SMG_OK,
       "bad params: connect");
    ok(smg_smtpc_ehlo(c, &err) == SMG_OK, "bad params: EHLO");
    ok(smg_smtpc_send(c, "a@b.test", "BODY=8BITMIME RET=FULL ENVID=\"a b\"", r, 1,
                      w->str, w->len, &err) == SMG_OK,
       "bad params: transaction");
    is_int(250, r[0].reply.code, "bad params: delivered");
    smg_smtpc_rcpts_clear(r, 1);
    smg_smtpc_quit(c);
    ok(reaped(pid), "bad params: ENVID with a space and ORCPT with a CR left out");
    g_string_free(w, TRUE);
}

static void
test_failures(void)
{
    static const char *const greet[] = {"S:554 5.7.1 go away", "X", NULL};
    unsigned port;
    int lfd = listener(&port);
    pid_t pid = child(lfd, greet, NULL);
    struct smg_smtpc *c = NULL;
    GError *err = NULL;

    ok(smg_smtpc_connect(&opts, "s.test", "127.0.0.1", port, &c, &err) == SMG_PERMFAIL
           && c == NULL,
       "554 greeting: PERMFAIL");
    ok(err != NULL && strstr(err->message, "refused to talk to me: 554 5.7.1 go away") != NULL,
       "message: %s", err != NULL ? err->message : "");
    g_clear_error(&err);
    ok(reaped(pid), "server done");

    lfd = listener(&port);
    close(lfd); /* nothing listens there now */
    ok(smg_smtpc_connect(&opts, "s.test", "127.0.0.1", port, &c, &err) == SMG_TEMPFAIL,
       "refused connection: TEMPFAIL");
    ok(err != NULL && g_str_has_prefix(err->message, "4.4.1 connect to s.test[127.0.0.1]:"),
       "message: %s", err != NULL ? err->message : "");
    g_clear_error(&err);

    {
        struct smg_smtpc_opts o = opts;

        o.bind = "::1";
        ok(smg_smtpc_connect(&o, "s.test", "127.0.0.1", 25, &c, &err) == SMG_TEMPFAIL
               && strstr(err->message, "does not fit") != NULL,
           "source address of the other family");
        g_clear_error(&err);
    }
    ok(smg_smtpc_connect(&opts, "s.test", "not-an-address", 25, &c, &err) == SMG_TEMPFAIL,
       "a name instead of an address");
    g_clear_error(&err);
}

/*
 * test_slow_reply - a server that sends a long multi-line reply a line at
 * a time, each well within the time-out: the time-out bounds the whole
 * reply (RFC 5321 4.5.3.2), so the client gives up after it instead of
 * waiting as long as the server likes (200 lines of 4 KB, each just
 * within 300 s, would have held a worker for 16 hours)
 */
static void
test_slow_reply(void)
{
    /* 20 lines 300 ms apart: 6 s in all, with a time-out of 1 s */
    const char *greet[46] = {NULL}, *ehlo[48] = {NULL};
    struct smg_smtpc_opts o = opts;
    unsigned port, n = 0;
    int lfd, status;
    pid_t pid;
    struct smg_smtpc *c = NULL;
    GError *err = NULL;

    o.command_timeout_ms = 1000;
    for (unsigned i = 0; i < 20; i++) {
        greet[n++] = "S:220-s.test still greeting";
        greet[n++] = "P:300";
    }
    greet[n++] = "S:220 s.test ESMTP";
    greet[n++] = "X";
    lfd = listener(&port);
    pid = child(lfd, greet, NULL);
    ok(smg_smtpc_connect(&o, "s.test", "127.0.0.1", port, &c, &err) == SMG_TEMPFAIL
           && c == NULL,
       "a greeting trickled a line at a time: TEMPFAIL");
    ok(err != NULL && strstr(err->message, "timed out while receiving the initial "
                                           "server greeting") != NULL,
       "... a time-out: %s", err != NULL ? err->message : "");
    g_clear_error(&err);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);

    n = 0;
    ehlo[n++] = "S:220 s.test ESMTP";
    ehlo[n++] = "C:EHLO client.test";
    ehlo[n++] = "S:250-s.test";
    for (unsigned i = 0; i < 20; i++) {
        ehlo[n++] = "P:300";
        ehlo[n++] = "S:250-X-SLOW";
    }
    ehlo[n++] = "S:250 PIPELINING";
    ehlo[n++] = "X";
    lfd = listener(&port);
    pid = child(lfd, ehlo, NULL);
    ok(smg_smtpc_connect(&o, "s.test", "127.0.0.1", port, &c, &err) == SMG_OK,
       "greeting");
    ok(c != NULL && smg_smtpc_ehlo(c, &err) == SMG_TEMPFAIL && !smg_smtpc_usable(c),
       "an EHLO reply trickled a line at a time: TEMPFAIL");
    ok(err != NULL && strstr(err->message, "timed out while sending EHLO") != NULL,
       "... a time-out: %s", err != NULL ? err->message : "");
    g_clear_error(&err);
    smg_smtpc_free(c);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

int
main(void)
{
    plan_lazy();
    test_parse();
    test_wire();
    test_pipelined();
    test_lockstep();
    test_bad_params();
    test_failures();
    test_slow_reply();
    return 0;
}
