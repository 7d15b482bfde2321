/*
 * dns-t.c - unit tests for lib/dns: reply checks, answers, server lists.
 *
 * The reply checker is fed crafted datagrams (wrong ID, wrong question, QR
 * clear, wrong opcode, truncated and garbage bytes); smg_dns_answer_rrs is
 * fed crafted answers with CNAME chains and loops.  The only I/O is on
 * sockets this test makes itself on 127.0.0.1: a silent one (time-out) and
 * a closed port (refused).  Lookups against a real server are in
 * t/0100-dns-resolver.t.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <ldns/ldns.h>

#include "lib/config.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/status.h"
#include "t/tap/basic.h"

/* make_query - a query packet for name/type/class with the given ID */
static ldns_pkt *
make_query(const char *name, ldns_rr_type type, ldns_rr_class cls, uint16_t id)
{
    ldns_pkt *q =
        ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, cls, LDNS_RD);

    if (q == NULL)
        bail("cannot build a query for %s", name);
    ldns_pkt_set_id(q, id);
    return q;
}

/* to_wire - a packet's wire form (g_free) */
static uint8_t *
to_wire(const ldns_pkt *pkt, size_t *len)
{
    uint8_t *w = NULL, *out;

    if (ldns_pkt2wire(&w, pkt, len) != LDNS_STATUS_OK)
        bail("ldns_pkt2wire failed");
    out = g_malloc(*len);
    memcpy(out, w, *len);
    free(w);
    return out;
}

/*
 * reply_wire - the wire form of a reply to name/type with id, QR set and
 * the answer records given in presentation format (NULL-terminated).
 */
static uint8_t *
reply_wire(const char *name, ldns_rr_type type, uint16_t id, size_t *len,
           const char *const *answers)
{
    ldns_pkt *p = make_query(name, type, LDNS_RR_CLASS_IN, id);
    uint8_t *w;

    ldns_pkt_set_qr(p, true);
    for (const char *const *a = answers; a != NULL && *a != NULL; a++) {
        ldns_rr *rr = NULL;

        if (ldns_rr_new_frm_str(&rr, *a, 300, NULL, NULL) != LDNS_STATUS_OK)
            bail("bad test record %s", *a);
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    }
    w = to_wire(p, len);
    ldns_pkt_free(p);
    return w;
}

/* check_name - smg_dns_reply_check's verdict as a name */
static const char *
check_name(const ldns_pkt *query, const uint8_t *w, size_t len)
{
    return smg_dns_reply_name(smg_dns_reply_check(query, w, len, NULL));
}

static void
test_reply_check(void)
{
    static const char *const mx_answer[] = {"mx.test. IN MX 10 mail.mx.test.",
                                            NULL};
    ldns_pkt *q =
        make_query("mx.test", LDNS_RR_TYPE_MX, LDNS_RR_CLASS_IN, 0x1234);
    ldns_pkt *reply = NULL, *other;
    uint8_t *w, *qw, garbage[64];
    size_t len, qlen, olen;
    uint8_t *ow;

    /* a good reply, with an answer */
    w = reply_wire("mx.test", LDNS_RR_TYPE_MX, 0x1234, &len, mx_answer);
    is_int(SMG_DNS_REPLY_OK, smg_dns_reply_check(q, w, len, &reply),
           "a matching reply is accepted");
    ok(reply != NULL && ldns_rr_list_rr_count(ldns_pkt_answer(reply)) == 1,
       "and parsed, with its answer");
    ldns_pkt_free(reply);

    /* wrong ID */
    w[1] ^= 0x01;
    reply = (ldns_pkt *) 1;
    is_int(SMG_DNS_REPLY_WRONG_ID, smg_dns_reply_check(q, w, len, &reply),
           "another ID is refused");
    ok(reply == NULL, "and no packet is returned");
    w[0] ^= 0x80;
    w[1] ^= 0x01;
    is_string("wrong-id", check_name(q, w, len), "high byte of the ID counts");
    w[0] ^= 0x80;

    /* QR clear: our own query reflected */
    qw = to_wire(q, &qlen);
    is_string("not-response", check_name(q, qw, qlen), "QR clear is refused");
    w[2] &= (uint8_t) ~0x80;
    is_string("not-response", check_name(q, w, len),
              "QR clear on an answer is refused");
    w[2] |= 0x80;

    /* opcode */
    w[2] |= (uint8_t) (LDNS_PACKET_NOTIFY << 3);
    is_string("wrong-opcode", check_name(q, w, len), "a NOTIFY is refused");
    w[2] &= (uint8_t) ~0x78;
    is_string("ok", check_name(q, w, len), "restored reply is accepted again");

    /* truncated and garbage bytes */
    is_string("malformed", check_name(q, w, 0), "empty datagram");
    is_string("malformed", check_name(q, NULL, 0), "no datagram");
    is_string("malformed", check_name(q, w, 5), "5 bytes");
    is_string("malformed", check_name(q, w, 11), "11 bytes");
    is_string("malformed", check_name(q, w, 15), "question cut short");
    is_string("malformed", check_name(q, w, len - 3), "answer cut short");
    memset(garbage, 0xA5, sizeof(garbage));
    garbage[0] = 0x12;
    garbage[1] = 0x34;
    garbage[2] = 0x80;
    garbage[3] = 0x00;
    is_string("malformed", check_name(q, garbage, sizeof(garbage)),
              "right ID and QR, then garbage");
    memset(garbage + 4, 0, 8);
    garbage[5] = 1; /* QDCOUNT 1 */
    garbage[12] = 0xC0;
    garbage[13] = 0x0C; /* a compression pointer to itself */
    is_string("malformed", check_name(q, garbage, 18), "compression loop");
    memset(garbage + 4, 0, 8);
    is_string("wrong-question", check_name(q, garbage, 12),
              "a reply without a question");
    g_free(w);

    /* TC set and the answer cut mid-record: the header still counts */
    w = reply_wire("mx.test", LDNS_RR_TYPE_MX, 0x1234, &len, mx_answer);
    w[2] |= 0x02;
    is_int(SMG_DNS_REPLY_OK, smg_dns_reply_check(q, w, len - 3, &reply),
           "a truncated TC reply is accepted for its header");
    ok(reply != NULL && ldns_pkt_tc(reply), "and TC is seen");
    ldns_pkt_free(reply);
    g_free(w);

    /* the question */
    w = reply_wire("mx.tesu", LDNS_RR_TYPE_MX, 0x1234, &len, NULL);
    is_string("wrong-question", check_name(q, w, len), "another name");
    g_free(w);
    w = reply_wire("x.mx.test", LDNS_RR_TYPE_MX, 0x1234, &len, NULL);
    is_string("wrong-question", check_name(q, w, len), "a subdomain");
    g_free(w);
    w = reply_wire("mx.test", LDNS_RR_TYPE_A, 0x1234, &len, NULL);
    is_string("wrong-question", check_name(q, w, len), "another type");
    g_free(w);
    other = make_query("mx.test", LDNS_RR_TYPE_MX, LDNS_RR_CLASS_CH, 0x1234);
    ldns_pkt_set_qr(other, true);
    ow = to_wire(other, &olen);
    is_string("wrong-question", check_name(q, ow, olen), "another class");
    g_free(ow);
    ldns_pkt_free(other);
    w = reply_wire("MX.Test.", LDNS_RR_TYPE_MX, 0x1234, &len, NULL);
    is_string("ok", check_name(q, w, len), "the name's case does not matter");
    g_free(w);

    /* two questions, the first ours */
    other = make_query("mx.test", LDNS_RR_TYPE_MX, LDNS_RR_CLASS_IN, 0x1234);
    ldns_pkt_set_qr(other, true);
    {
        ldns_rr *extra = NULL;

        if (ldns_rr_new_question_frm_str(&extra, "evil.test. IN A", NULL, NULL)
            != LDNS_STATUS_OK)
            bail("bad question");
        ldns_pkt_push_rr(other, LDNS_SECTION_QUESTION, extra);
    }
    ow = to_wire(other, &olen);
    is_string("wrong-question", check_name(q, ow, olen), "two questions");
    g_free(ow);
    ldns_pkt_free(other);

    g_free(qw);
    ldns_pkt_free(q);
}

/* answer_count - how many records of type smg_dns_answer_rrs finds */
static int
answer_count(const char *qname, ldns_rr_type type, const char *const *answers,
             gboolean *cname)
{
    size_t len;
    uint8_t *w = reply_wire(qname, type, 1, &len, answers);
    ldns_pkt *p = NULL;
    ldns_rr_list *rrs;
    int n;

    if (ldns_wire2pkt(&p, w, len) != LDNS_STATUS_OK)
        bail("cannot parse test reply");
    rrs = smg_dns_answer_rrs(p, type, cname);
    n = (int) ldns_rr_list_rr_count(rrs);
    ldns_rr_list_deep_free(rrs);
    ldns_pkt_free(p);
    g_free(w);
    return n;
}

static void
test_answer_rrs(void)
{
    static const char *const chain[] = {"cname.test. IN CNAME mid.test.",
                                        "mid.test. IN CNAME mx.test.",
                                        "mx.test. IN MX 10 mail.mx.test.",
                                        "mx.test. IN MX 20 b.mx.test.", NULL};
    static const char *const unrelated[] = {"other.test. IN MX 10 x.test.",
                                            "mx.test. IN A 127.0.0.1", NULL};
    static const char *const loop[] = {"a.test. IN CNAME b.test.",
                                       "b.test. IN CNAME a.test.", NULL};
    static const char *const dangling[] = {"c.test. IN CNAME gone.test.",
                                           NULL};
    static const char *const upper[] = {"MX.TEST. IN MX 10 mail.mx.test.",
                                        NULL};
    gboolean cname = TRUE;

    is_int(2, answer_count("cname.test", LDNS_RR_TYPE_MX, chain, &cname),
           "a CNAME chain is followed to its MX records");
    ok(cname, "and the CNAME is reported");
    is_int(2, answer_count("mx.test", LDNS_RR_TYPE_MX, chain, &cname),
           "records of the name itself");
    ok(!cname, "without a CNAME");
    is_int(1, answer_count("cname.test", LDNS_RR_TYPE_CNAME, chain, NULL),
           "asking for CNAME gives the CNAME itself");
    is_int(0, answer_count("mx.test", LDNS_RR_TYPE_MX, unrelated, NULL),
           "other names and types are not answers");
    is_int(0, answer_count("a.test", LDNS_RR_TYPE_A, loop, NULL),
           "a CNAME loop ends with no records");
    is_int(0, answer_count("c.test", LDNS_RR_TYPE_A, dangling, &cname),
           "a CNAME whose target is not in the answer gives none");
    is_int(1, answer_count("mx.test", LDNS_RR_TYPE_MX, upper, NULL),
           "owner names compare case-insensitively");
}

static void
test_servers(void)
{
    static const char *const good[] = {
        "127.0.0.1:5353", "[::1]:53",      "::1",
        "192.0.2.7",      "[2001:db8::1]", NULL};
    static const char *const bad[] = {
        "1.2.3.4:0", "1.2.3.4:70000", "example.com",  "[::1", "1.2.3.4:x",
        "",          "[::1]x",        "1.2.3.4:53:1", NULL};
    struct smg_dns *dns = NULL;
    struct smg_conf *conf = NULL;
    GError *err = NULL;

    is_int(SMG_OK, smg_dns_new_servers(good, 1000, 1, &dns, &err),
           "server list accepted");
    is_int(5, (int) smg_dns_server_count(dns), "five servers");
    is_string("127.0.0.1:5353", smg_dns_server_text(dns, 0), "IPv4 with port");
    is_string("[::1]:53", smg_dns_server_text(dns, 1), "IPv6 with port");
    is_string("[::1]:53", smg_dns_server_text(dns, 2), "bare IPv6");
    is_string("192.0.2.7:53", smg_dns_server_text(dns, 3), "IPv4, port 53");
    is_string("[2001:db8::1]:53", smg_dns_server_text(dns, 4), "[IPv6]");
    ok(smg_dns_server_text(dns, 5) == NULL, "no sixth server");
    smg_dns_free(dns);

    for (const char *const *b = bad; *b != NULL; b++) {
        const char *one[] = {*b, NULL};

        dns = (struct smg_dns *) 1;
        is_int(SMG_CONFIG, smg_dns_new_servers(one, 1000, 1, &dns, &err),
               "bad server '%s' refused", *b);
        ok(dns == NULL && err != NULL
               && strstr(err->message, "4.3.5 ") == err->message,
           "with an error (%s)", err != NULL ? err->message : "none");
        g_clear_error(&err);
    }
    is_int(SMG_CONFIG, smg_dns_new_servers(good, 0, 1, &dns, &err),
           "timeout 0 refused");
    g_clear_error(&err);
    is_int(SMG_CONFIG, smg_dns_new_servers(good, 10, 0, &dns, &err),
           "attempts 0 refused");
    g_clear_error(&err);

    is_int(SMG_OK, smg_dns_new_servers(NULL, 1000, 1, &dns, &err),
           "no list: /etc/resolv.conf");
    ok(smg_dns_server_count(dns) >= 1, "at least one server from it");
    smg_dns_free(dns);
    is_int(SMG_OK, smg_dns_new(NULL, &dns, &err), "smg_dns_new without conf");
    smg_dns_free(dns);

    if (smg_conf_load_data("[dns]\nnameservers = 127.0.0.1:5353, [::1]:53\n"
                           "timeout = 3\nattempts = 1\n",
                           "test.conf", &conf, &err)
        != SMG_OK)
        bail("config: %s", err->message);
    is_int(SMG_OK, smg_dns_new(conf, &dns, &err), "smg_dns_new from [dns]");
    is_int(2, (int) smg_dns_server_count(dns), "two servers from the config");
    is_string("[::1]:53", smg_dns_server_text(dns, 1), "in order");
    smg_dns_free(dns);
    smg_conf_free(conf);

    if (smg_conf_load_data("[dns]\nnameservers = ns.example.com\n", "bad.conf",
                           &conf, &err)
        != SMG_OK)
        bail("config: %s", err->message);
    is_int(SMG_CONFIG, smg_dns_new(conf, &dns, &err),
           "a host name is refused");
    ok(err != NULL
           && strstr(err->message, "4.3.5 bad.conf: [dns] nameservers: bad")
                  != NULL,
       "the error names file and key (%s)", err ? err->message : "none");
    g_clear_error(&err);
    smg_conf_free(conf);
}

/* bound_port - a UDP socket on 127.0.0.1 with a kernel-chosen port */
static int
bound_port(int *port)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0
        || getsockname(fd, (struct sockaddr *) &sin, &len) < 0)
        bail("cannot bind a UDP socket on 127.0.0.1");
    *port = ntohs(sin.sin_port);
    return fd;
}

static void
test_query_failures(void)
{
    struct smg_dns *dns = NULL;
    GError *err = NULL;
    ldns_pkt *pkt = (ldns_pkt *) 1;
    enum smg_dns_domain result;
    char *server, *detail = NULL;
    const char *list[2] = {NULL, NULL};
    GPtrArray *arr = (GPtrArray *) 1;
    int port, fd;
    char label64[70];

    /* a server that never answers: our own socket, never read */
    fd = bound_port(&port);
    server = g_strdup_printf("127.0.0.1:%d", port);
    list[0] = server;
    if (smg_dns_new_servers(list, 200, 2, &dns, &err) != SMG_OK)
        bail("new: %s", err->message);
    is_int(SMG_TEMPFAIL,
           smg_dns_query(dns, "mx.test", LDNS_RR_TYPE_MX, &pkt, &err),
           "a silent server is a temporary failure");
    ok(pkt == NULL, "with no answer");
    is_string("4.4.3 DNS lookup of mx.test timed out",
              err != NULL ? err->message : "", "the time-out is told");
    g_clear_error(&err);
    is_int(SMG_TEMPFAIL,
           smg_dns_domain_check(dns, "mx.test", &result, &detail, &err),
           "the domain check: tempfail, never none");
    g_clear_error(&err);
    is_int(SMG_TEMPFAIL, smg_dns_mx(dns, "mx.test", &arr, NULL, &err),
           "smg_dns_mx: tempfail");
    ok(arr == NULL, "with no array");
    g_clear_error(&err);

    /* a name that is not a domain name fails before any I/O */
    is_int(SMG_PERMFAIL,
           smg_dns_query(dns, "a..b", LDNS_RR_TYPE_A, &pkt, &err),
           "an empty label is a bad name");
    ok(err != NULL && strncmp(err->message, "5.1.2 ", 6) == 0,
       "with 5.1.2 (%s)", err ? err->message : "none");
    g_clear_error(&err);
    memset(label64, 'a', 64);
    strcpy(label64 + 64, ".test");
    is_int(SMG_PERMFAIL,
           smg_dns_query(dns, label64, LDNS_RR_TYPE_A, &pkt, &err),
           "a 64-byte label is a bad name");
    g_clear_error(&err);
    is_int(SMG_PERMFAIL, smg_dns_query(dns, "", LDNS_RR_TYPE_A, &pkt, &err),
           "an empty name is a bad name");
    g_clear_error(&err);
    smg_dns_free(dns);

    /* a closed port: ICMP port unreachable, told at once */
    close(fd);
    if (smg_dns_new_servers(list, 5000, 1, &dns, &err) != SMG_OK)
        bail("new: %s", err->message);
    is_int(SMG_TEMPFAIL,
           smg_dns_query(dns, "mx.test", LDNS_RR_TYPE_MX, &pkt, &err),
           "a closed port is a temporary failure");
    ok(err != NULL
           && strstr(err->message, "4.4.3 DNS lookup of mx.test failed:")
                  == err->message,
       "told as a failure (%s)", err ? err->message : "none");
    g_clear_error(&err);
    smg_dns_free(dns);
    g_free(server);
}

/*
 * loop_server - answer each query on fd (until a zero-length datagram)
 * with NOERROR, RA set, and an answer section whose CNAMEs loop from the
 * question's name: a.<q> -> b, b -> a, as a broken or hostile resolver may
 */
static gpointer
loop_server(gpointer arg)
{
    int fd = GPOINTER_TO_INT(arg);
    uint8_t buf[4096];

    for (;;) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
                             (struct sockaddr *) &from, &fromlen);
        ldns_pkt *q = NULL, *r;
        ldns_rr *rr = NULL;
        char *qname, *text;
        uint8_t *w = NULL;
        size_t wlen;

        if (n <= 0)
            break;
        if (ldns_wire2pkt(&q, buf, (size_t) n) != LDNS_STATUS_OK)
            continue;
        qname = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(
            ldns_pkt_question(q), 0)));
        r = ldns_pkt_new();
        ldns_pkt_set_id(r, ldns_pkt_id(q));
        ldns_pkt_set_qr(r, true);
        ldns_pkt_set_rd(r, true);
        ldns_pkt_set_ra(r, true);
        ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION,
                         ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q),
                                                       0)));
        text = g_strdup_printf("%s 60 IN CNAME loop.test.", qname);
        ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);
        ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr);
        g_free(text);
        rr = NULL;
        ldns_rr_new_frm_str(&rr, "loop.test. 60 IN CNAME loop2.test.", 0,
                            NULL, NULL);
        ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr);
        rr = NULL;
        ldns_rr_new_frm_str(&rr, "loop2.test. 60 IN CNAME loop.test.", 0,
                            NULL, NULL);
        ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr);
        if (ldns_pkt2wire(&w, r, &wlen) == LDNS_STATUS_OK)
            sendto(fd, w, wlen, 0, (struct sockaddr *) &from, fromlen);
        free(w);
        free(qname);
        ldns_pkt_free(r);
        ldns_pkt_free(q);
    }
    return NULL;
}

/* test_cname_loop - a CNAME loop in the answer is doubt, not "no domain" */
static void
test_cname_loop(void)
{
    struct smg_dns *dns = NULL;
    GError *err = NULL;
    enum smg_dns_domain result = SMG_DNS_DOMAIN_OK;
    char *server, *detail = NULL;
    const char *list[2] = {NULL, NULL};
    GPtrArray *arr = (GPtrArray *) 1;
    GThread *th;
    int port, fd, cfd;
    struct sockaddr_in sin;

    fd = bound_port(&port);
    th = g_thread_new("loop", loop_server, GINT_TO_POINTER(fd));
    server = g_strdup_printf("127.0.0.1:%d", port);
    list[0] = server;
    if (smg_dns_new_servers(list, 2000, 1, &dns, &err) != SMG_OK)
        bail("new: %s", err->message);
    is_int(SMG_TEMPFAIL,
           smg_dns_domain_check(dns, "looped.test", &result, &detail, &err),
           "a CNAME loop: the domain check is a temporary failure");
    ok(err != NULL && strncmp(err->message, "4.4.3 ", 6) == 0
           && strstr(err->message, "CNAME") != NULL,
       "told as a CNAME loop (%s)", err ? err->message : "none");
    g_clear_error(&err);
    g_free(detail);
    detail = NULL;
    is_int(SMG_TEMPFAIL, smg_dns_mx(dns, "looped.test", &arr, NULL, &err),
           "smg_dns_mx: tempfail, not 'no MX'");
    ok(arr == NULL, "with no array");
    g_clear_error(&err);
    smg_dns_free(dns);

    /* stop the server with an empty datagram */
    cfd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t) port);
    sendto(cfd, "", 0, 0, (struct sockaddr *) &sin, sizeof(sin));
    g_thread_join(th);
    close(cfd);
    close(fd);
    g_free(server);
}

static void
test_names(void)
{
    is_string("NOERROR", smg_dns_rcode_name(LDNS_RCODE_NOERROR), "NOERROR");
    is_string("NXDOMAIN", smg_dns_rcode_name(LDNS_RCODE_NXDOMAIN), "NXDOMAIN");
    is_string("SERVFAIL", smg_dns_rcode_name(LDNS_RCODE_SERVFAIL), "SERVFAIL");
    is_string("ok", smg_dns_domain_name(SMG_DNS_DOMAIN_OK), "ok");
    is_string("none", smg_dns_domain_name(SMG_DNS_DOMAIN_NONE), "none");
    is_string("nullmx", smg_dns_domain_name(SMG_DNS_DOMAIN_NULLMX), "nullmx");
}

int
main(void)
{
    smg_log_init("dns-t", SMG_LOG_STDERR, FALSE);
    plan_lazy();
    test_reply_check();
    test_answer_rrs();
    test_servers();
    test_query_failures();
    test_cname_loop();
    test_names();
    return 0;
}
