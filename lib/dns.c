/*
 * dns.c - stub resolver: ldns packets over our own checked UDP and TCP I/O.
 *
 * A query is built with ldns_pkt_query_new (RD, EDNS0 with a 1232-byte
 * payload), given a random ID from getrandom(2) for every datagram sent,
 * and sent on a UDP socket connect()ed to the server, so the kernel drops
 * datagrams from any other address and port.  Each datagram that arrives
 * within the time-out is checked by smg_dns_reply_check and by its sender
 * address; one that fails is logged at debug level and ignored, and the
 * wait goes on for the rest of the time-out.  This is what ldns's own
 * resolver does not do: it takes the first datagram.  A reply with TC set
 * is asked again over TCP with the same checks.  Servers are tried in the
 * configured order, the whole list once per attempt.  Only NOERROR and
 * NXDOMAIN are answers, and an empty one only from a resolver (RA) or the
 * name's own server (AA); everything else, a referral included, is a
 * temporary failure, so that a broken or slow DNS never becomes a
 * permanent refusal.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <ldns/ldns.h>

#include "lib/addr.h"
#include "lib/config.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/rand.h"
#include "lib/status.h"

#define RESOLV_CONF "/etc/resolv.conf"
#define DNS_MAX_MSG 65535
#define CNAME_MAX_LINKS 16
#define DSN_DNS_TEMP "4.4.3"
#define DSN_BAD_NAME "5.1.2"

struct dns_server {
    struct sockaddr_storage addr;
    socklen_t len;
    char *text; /* "addr:port" or "[addr]:port" */
};

struct smg_dns {
    GArray *servers; /* of struct dns_server */
    int timeout_ms;
    int attempts;
    uint8_t *buf; /* DNS_MAX_MSG bytes for replies */
};

/* How one exchange with one server ended. */
enum exchange {
    EXCHANGE_REPLY,   /* a checked reply is in *reply */
    EXCHANGE_TIMEOUT, /* nothing valid within the time-out */
    EXCHANGE_ERROR,   /* a local or network error; *why says which */
};

/* server_clear - GArray clear function for struct dns_server */
static void
server_clear(gpointer p)
{
    struct dns_server *srv = p;

    g_free(srv->text);
}

/* is_port - whether s is a decimal port number 1..65535 */
static gboolean
is_port(const char *s)
{
    guint64 v;

    if (*s == '\0' || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s))
        return FALSE;
    v = g_ascii_strtoull(s, NULL, 10);
    return v >= 1 && v <= 65535;
}

/*
 * parse_server - "addr", "addr:port", "[v6]", "[v6]:port" or a bare IPv6
 * address into *srv; FALSE if it is not a numeric address and port.
 */
static gboolean
parse_server(const char *s, struct dns_server *srv)
{
    struct addrinfo hints, *ai = NULL;
    char *host;
    const char *port = "53";
    const char *colon;
    gboolean ok;

    if (s[0] == '[') {
        const char *end = strchr(s, ']');

        if (end == NULL || end == s + 1)
            return FALSE;
        host = g_strndup(s + 1, (gsize) (end - s - 1));
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0') {
            g_free(host);
            return FALSE;
        }
    } else if ((colon = strchr(s, ':')) != NULL
               && strchr(colon + 1, ':') == NULL) {
        host = g_strndup(s, (gsize) (colon - s));
        port = colon + 1;
    } else {
        host = g_strdup(s); /* IPv4, or IPv6 without brackets or port */
    }
    if (host[0] == '\0' || !is_port(port)) {
        g_free(host);
        return FALSE;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    ok = getaddrinfo(host, port, &hints, &ai) == 0 && ai != NULL
         && ai->ai_addrlen <= sizeof(srv->addr);
    if (ok) {
        memset(srv, 0, sizeof(*srv));
        memcpy(&srv->addr, ai->ai_addr, ai->ai_addrlen);
        srv->len = ai->ai_addrlen;
        if (ai->ai_family == AF_INET6)
            srv->text = g_strdup_printf("[%s]:%s", host, port);
        else
            srv->text = g_strdup_printf("%s:%s", host, port);
    }
    if (ai != NULL)
        freeaddrinfo(ai);
    g_free(host);
    return ok;
}

/* resolv_conf_servers - the nameserver lines of /etc/resolv.conf */
static char **
resolv_conf_servers(void)
{
    GPtrArray *list = g_ptr_array_new();
    char *text = NULL;

    if (g_file_get_contents(RESOLV_CONF, &text, NULL, NULL)) {
        char **lines = g_strsplit(text, "\n", -1);

        for (char **l = lines; *l != NULL; l++) {
            char **w = g_strsplit_set(g_strstrip(*l), " \t", -1);
            unsigned n = 0;
            const char *words[2] = {NULL, NULL};

            for (char **p = w; *p != NULL && n < 2; p++)
                if (**p != '\0')
                    words[n++] = *p;
            if (n == 2 && strcmp(words[0], "nameserver") == 0)
                g_ptr_array_add(list, g_strdup(words[1]));
            g_strfreev(w);
        }
        g_strfreev(lines);
        g_free(text);
    }
    if (list->len == 0)
        g_ptr_array_add(list, g_strdup("127.0.0.1"));
    g_ptr_array_add(list, NULL);
    return (char **) g_ptr_array_free(list, FALSE);
}

enum smg_status
smg_dns_new_servers(const char *const *servers, int timeout_ms, int attempts,
                    struct smg_dns **out, GError **err)
{
    struct smg_dns *dns;
    char **fallback = NULL;
    gboolean from_resolv = servers == NULL || servers[0] == NULL;

    *out = NULL;
    if (timeout_ms < 1 || attempts < 1) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "DNS timeout and attempts must be positive");
        return SMG_CONFIG;
    }
    if (from_resolv) {
        fallback = resolv_conf_servers();
        servers = (const char *const *) fallback;
    }
    dns = g_new0(struct smg_dns, 1);
    dns->servers = g_array_new(FALSE, TRUE, sizeof(struct dns_server));
    g_array_set_clear_func(dns->servers, server_clear);
    dns->timeout_ms = timeout_ms;
    dns->attempts = attempts;
    for (const char *const *s = servers; *s != NULL; s++) {
        struct dns_server srv;

        if (parse_server(*s, &srv)) {
            g_array_append_val(dns->servers, srv);
        } else if (from_resolv) {
            smg_log_warn("dns: ignoring nameserver '%s' of %s", *s,
                         RESOLV_CONF);
        } else {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "bad DNS server address '%s' (want addr, "
                          "addr:port or [v6addr]:port)",
                          *s);
            smg_dns_free(dns);
            g_strfreev(fallback);
            return SMG_CONFIG;
        }
    }
    g_strfreev(fallback);
    if (dns->servers->len == 0) {
        struct dns_server srv;

        if (!parse_server("127.0.0.1", &srv))
            g_assert_not_reached();
        g_array_append_val(dns->servers, srv);
    }
    dns->buf = g_malloc(DNS_MAX_MSG);
    *out = dns;
    return SMG_OK;
}

enum smg_status
smg_dns_new(const struct smg_conf *conf, struct smg_dns **out, GError **err)
{
    char **servers = NULL;
    int timeout_ms = 5000, attempts = 2;
    enum smg_status st;
    GError *local = NULL;

    if (conf != NULL) {
        servers = smg_conf_list(conf, "dns", "nameservers");
        timeout_ms = (int) smg_conf_int(conf, "dns", "timeout") * 1000;
        attempts = (int) smg_conf_int(conf, "dns", "attempts");
    }
    st = smg_dns_new_servers((const char *const *) servers, timeout_ms,
                             attempts, out, &local);
    if (st != SMG_OK) {
        /* local's message is "4.3.5 reason": keep one DSN, add the place */
        const char *reason = strchr(local->message, ' ');

        if (conf != NULL)
            smg_set_error(err, st, NULL, "%s: [dns] nameservers: %s",
                          smg_conf_path(conf),
                          reason != NULL ? reason + 1 : local->message);
        else
            g_propagate_error(err, g_steal_pointer(&local));
        g_clear_error(&local);
    }
    g_strfreev(servers);
    return st;
}

void
smg_dns_free(struct smg_dns *dns)
{
    if (dns == NULL)
        return;
    g_array_unref(dns->servers);
    g_free(dns->buf);
    g_free(dns);
}

unsigned
smg_dns_server_count(const struct smg_dns *dns)
{
    return dns->servers->len;
}

const char *
smg_dns_server_text(const struct smg_dns *dns, unsigned i)
{
    if (i >= dns->servers->len)
        return NULL;
    return g_array_index(dns->servers, struct dns_server, i).text;
}

const char *
smg_dns_reply_name(enum smg_dns_reply r)
{
    switch (r) {
    case SMG_DNS_REPLY_OK:
        return "ok";
    case SMG_DNS_REPLY_MALFORMED:
        return "malformed";
    case SMG_DNS_REPLY_WRONG_ID:
        return "wrong-id";
    case SMG_DNS_REPLY_NOT_RESPONSE:
        return "not-response";
    case SMG_DNS_REPLY_WRONG_OPCODE:
        return "wrong-opcode";
    case SMG_DNS_REPLY_WRONG_QUESTION:
        return "wrong-question";
    }
    return "unknown";
}

/*
 * parse_wire - ldns_wire2pkt, and for a truncated reply that ldns cannot
 * parse whole (a server may cut it mid-record), the header and question
 * alone, which is all that a TC reply is used for.
 */
static ldns_pkt *
parse_wire(const uint8_t *wire, size_t len)
{
    ldns_pkt *pkt = NULL;
    uint8_t *copy;

    if (ldns_wire2pkt(&pkt, wire, len) == LDNS_STATUS_OK)
        return pkt;
    if (!(wire[2] & 0x02))
        return NULL;
    copy = g_malloc(len);
    memcpy(copy, wire, len);
    memset(copy + 6, 0, 6); /* ANCOUNT, NSCOUNT, ARCOUNT */
    pkt = NULL;
    if (ldns_wire2pkt(&pkt, copy, len) != LDNS_STATUS_OK)
        pkt = NULL;
    g_free(copy);
    return pkt;
}

enum smg_dns_reply
smg_dns_reply_check(const ldns_pkt *query, const uint8_t *wire, size_t len,
                    ldns_pkt **reply)
{
    ldns_pkt *pkt;
    const ldns_rr_list *q, *want;
    const ldns_rr *qrr, *wrr;
    enum smg_dns_reply res = SMG_DNS_REPLY_OK;

    if (reply != NULL)
        *reply = NULL;
    if (wire == NULL || len < LDNS_HEADER_SIZE)
        return SMG_DNS_REPLY_MALFORMED;
    if (((unsigned) wire[0] << 8 | wire[1]) != ldns_pkt_id(query))
        return SMG_DNS_REPLY_WRONG_ID;
    if (!(wire[2] & 0x80))
        return SMG_DNS_REPLY_NOT_RESPONSE;
    if (((wire[2] >> 3) & 0x0f) != LDNS_PACKET_QUERY)
        return SMG_DNS_REPLY_WRONG_OPCODE;
    if ((pkt = parse_wire(wire, len)) == NULL)
        return SMG_DNS_REPLY_MALFORMED;

    q = ldns_pkt_question(pkt);
    want = ldns_pkt_question(query);
    if (q == NULL || want == NULL || ldns_rr_list_rr_count(q) != 1
        || ldns_rr_list_rr_count(want) != 1) {
        res = SMG_DNS_REPLY_WRONG_QUESTION;
    } else {
        qrr = ldns_rr_list_rr(q, 0);
        wrr = ldns_rr_list_rr(want, 0);
        if (ldns_rr_get_type(qrr) != ldns_rr_get_type(wrr)
            || ldns_rr_get_class(qrr) != ldns_rr_get_class(wrr)
            || ldns_dname_compare(ldns_rr_owner(qrr), ldns_rr_owner(wrr)) != 0)
            res = SMG_DNS_REPLY_WRONG_QUESTION;
    }
    if (res == SMG_DNS_REPLY_OK && reply != NULL)
        *reply = pkt;
    else
        ldns_pkt_free(pkt);
    return res;
}

/* same_sender - whether a datagram's source address is the server's */
static gboolean
same_sender(const struct sockaddr_storage *from, socklen_t fromlen,
            const struct dns_server *srv)
{
    if (from->ss_family != srv->addr.ss_family)
        return FALSE;
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *) from;
        const struct sockaddr_in *b = (const void *) &srv->addr;

        return fromlen >= sizeof(*a) && a->sin_port == b->sin_port
               && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *) from;
        const struct sockaddr_in6 *b = (const void *) &srv->addr;

        return fromlen >= sizeof(*a) && a->sin6_port == b->sin6_port
               && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr))
                      == 0;
    }
    return FALSE;
}

/*
 * wait_fd - poll fd for events until deadline (monotonic µs): 1 ready,
 * 0 time-out, -1 error (errno set).  POLLERR and POLLHUP count as ready so
 * that the following read or write reports the error.
 */
static int
wait_fd(int fd, short events, gint64 deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        gint64 left = deadline - g_get_monotonic_time();
        int r;

        if (left <= 0)
            return 0;
        r = poll(&pfd, 1, (int) ((left + 999) / 1000));
        if (r > 0)
            return 1;
        if (r == 0)
            continue; /* the loop re-checks the deadline */
        if (errno != EINTR)
            return -1;
    }
}

/* new_socket - a non-blocking close-on-exec socket of srv's family */
static int
new_socket(const struct dns_server *srv, int type)
{
    return socket(srv->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* exchange_udp - send wire to srv and wait for a valid reply */
static enum exchange
exchange_udp(struct smg_dns *dns, const struct dns_server *srv,
             const ldns_pkt *query, const uint8_t *wire, size_t len,
             const char *name, ldns_pkt **reply, char **why)
{
    gint64 deadline = g_get_monotonic_time() + (gint64) dns->timeout_ms * 1000;
    enum exchange res = EXCHANGE_TIMEOUT;
    int fd;

    if ((fd = new_socket(srv, SOCK_DGRAM)) < 0
        || connect(fd, (const struct sockaddr *) &srv->addr, srv->len) < 0
        || send(fd, wire, len, 0) < 0) {
        *why = g_strdup_printf("%s: %s", srv->text, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXCHANGE_ERROR;
    }
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);
        enum smg_dns_reply chk;
        ssize_t n;
        int w = wait_fd(fd, POLLIN, deadline);

        if (w == 0)
            break;
        if (w < 0) {
            *why = g_strdup_printf("poll: %s", g_strerror(errno));
            res = EXCHANGE_ERROR;
            break;
        }
        n = recvfrom(fd, dns->buf, DNS_MAX_MSG, 0, (struct sockaddr *) &from,
                     &fromlen);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            /* ECONNREFUSED: an ICMP port unreachable for a dead server */
            *why = g_strdup_printf("%s: %s", srv->text, g_strerror(errno));
            res = EXCHANGE_ERROR;
            break;
        }
        if (!same_sender(&from, fromlen, srv)) {
            smg_log_debug("dns: ignored datagram for %s: not from %s", name,
                          srv->text);
            continue;
        }
        chk = smg_dns_reply_check(query, dns->buf, (size_t) n, reply);
        if (chk == SMG_DNS_REPLY_OK) {
            res = EXCHANGE_REPLY;
            break;
        }
        smg_log_debug("dns: ignored datagram from %s for %s: %s", srv->text,
                      name, smg_dns_reply_name(chk));
    }
    close(fd);
    return res;
}

/*
 * io_all - write (out != NULL) or read len bytes on a non-blocking stream
 * before deadline: 1 done, 0 time-out, -1 error or end of stream (errno).
 */
static int
io_all(int fd, const uint8_t *out, uint8_t *in, size_t len, gint64 deadline)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n;
        int w = wait_fd(fd, out != NULL ? POLLOUT : POLLIN, deadline);

        if (w <= 0)
            return w;
        if (out != NULL)
            n = send(fd, out + done, len - done, MSG_NOSIGNAL);
        else
            n = recv(fd, in + done, len - done, 0);
        if (n < 0
            && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        done += (size_t) n;
    }
    return 1;
}

/* exchange_tcp - the query over TCP (after a truncated UDP reply) */
static enum exchange
exchange_tcp(struct smg_dns *dns, const struct dns_server *srv,
             const ldns_pkt *query, const uint8_t *wire, size_t len,
             ldns_pkt **reply, char **why)
{
    gint64 deadline = g_get_monotonic_time() + (gint64) dns->timeout_ms * 1000;
    uint8_t *msg, hdr[2];
    size_t rlen;
    int fd, r = -1, soerr = 0;
    socklen_t slen = sizeof(soerr);
    enum smg_dns_reply chk;

    if ((fd = new_socket(srv, SOCK_STREAM)) < 0) {
        *why = g_strdup_printf("socket: %s", g_strerror(errno));
        return EXCHANGE_ERROR;
    }
    if (connect(fd, (const struct sockaddr *) &srv->addr, srv->len) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        if ((r = wait_fd(fd, POLLOUT, deadline)) <= 0)
            goto end;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0)
            goto fail;
        if (soerr != 0) {
            errno = soerr;
            goto fail;
        }
    }
    msg = g_malloc(len + 2);
    msg[0] = (uint8_t) (len >> 8);
    msg[1] = (uint8_t) len;
    memcpy(msg + 2, wire, len);
    r = io_all(fd, msg, NULL, len + 2, deadline);
    g_free(msg);
    if (r <= 0 || (r = io_all(fd, NULL, hdr, 2, deadline)) <= 0)
        goto end;
    rlen = (size_t) hdr[0] << 8 | hdr[1];
    if ((r = io_all(fd, NULL, dns->buf, rlen, deadline)) <= 0)
        goto end;
    close(fd);
    chk = smg_dns_reply_check(query, dns->buf, rlen, reply);
    if (chk != SMG_DNS_REPLY_OK) {
        *why = g_strdup_printf("%s: bad TCP reply (%s)", srv->text,
                               smg_dns_reply_name(chk));
        return EXCHANGE_ERROR;
    }
    return EXCHANGE_REPLY;

end:
    if (r == 0) {
        close(fd);
        return EXCHANGE_TIMEOUT;
    }
fail:
    *why = g_strdup_printf("%s (TCP): %s", srv->text, g_strerror(errno));
    close(fd);
    return EXCHANGE_ERROR;
}

const char *
smg_dns_rcode_name(ldns_pkt_rcode rcode)
{
    /* constant strings: the DNSBL lookups call this from several threads */
    static const char *const other[] = {
        "RCODE0", "RCODE1", "RCODE2",  "RCODE3",  "RCODE4",  "RCODE5",  "RCODE6",  "RCODE7",
        "RCODE8", "RCODE9", "RCODE10", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
    };
    ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int) rcode);

    if (lt != NULL && lt->name != NULL)
        return lt->name;
    return (unsigned) rcode < G_N_ELEMENTS(other) ? other[rcode] : "RCODE?";
}

/* type_name - the mnemonic of an RR type, for log lines (ldns's table:
 * static and thread-safe, unlike a shared buffer) */
static const char *
type_name(ldns_rr_type type)
{
    const ldns_rr_descriptor *d = ldns_rr_descript((uint16_t) type);

    return d != NULL && d->_name != NULL ? d->_name : "?";
}

/*
 * no_recursion - whether a NOERROR or NXDOMAIN reply is no answer at all:
 * no answer records, with neither RA (a recursive resolver's) nor AA (the
 * name's own server's) set.  That is a referral, as an authoritative-only
 * server or one that will not recurse for us may give (RFC 1034 4.3.1):
 * it says nothing about the name, so it must not pass for NODATA, which
 * the sender-domain check turns into a 550.
 */
static gboolean
no_recursion(const ldns_pkt *reply)
{
    return !ldns_pkt_ra(reply) && !ldns_pkt_aa(reply)
           && ldns_pkt_ancount(reply) == 0;
}

/*
 * query_flags - smg_dns_query with the header flags of the question
 * (LDNS_RD, plus LDNS_AD for smg_dns_query_ad).
 */
static enum smg_status
query_flags(struct smg_dns *dns, const char *name, ldns_rr_type type,
            uint16_t flags, ldns_pkt **answer, GError **err)
{
    ldns_rdf *qname = NULL;
    ldns_pkt *query;
    char *last_why = NULL;
    gboolean failed = FALSE;
    char *ascii = NULL;
    const char *q = name;

    *answer = NULL;
    /* a UTF-8 name (a sender's or recipient's domain in SMTPUTF8 mail) is
     * asked for in its A-label form, which is what DNS holds */
    if (smg_addr_has_8bit(name))
        q = ascii = smg_addr_idna_ascii(name);
    if (q == NULL || *q == '\0' || (qname = ldns_dname_new_frm_str(q)) == NULL) {
        smg_set_error(err, SMG_PERMFAIL, DSN_BAD_NAME,
                      "'%s' is not a valid domain name", name ? name : "");
        g_free(ascii);
        return SMG_PERMFAIL;
    }
    g_free(ascii);
    query = ldns_pkt_query_new(qname, type, LDNS_RR_CLASS_IN, flags);
    if (query == NULL) {
        ldns_rdf_deep_free(qname); /* the packet did not take it */
        smg_set_error(err, SMG_TEMPFAIL, NULL, "out of memory for DNS query");
        return SMG_TEMPFAIL;
    }
    ldns_pkt_set_edns_udp_size(query, SMG_DNS_EDNS_SIZE);

    for (int a = 0; a < dns->attempts; a++) {
        for (unsigned i = 0; i < dns->servers->len; i++) {
            const struct dns_server *srv =
                &g_array_index(dns->servers, struct dns_server, i);
            uint16_t id;
            uint8_t *wire = NULL;
            size_t wlen = 0;
            ldns_pkt *reply = NULL;
            char *why = NULL;
            enum exchange ex;

            if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
                smg_set_error(err, SMG_TEMPFAIL, NULL,
                              "no random query ID: %s", g_strerror(errno));
                ldns_pkt_free(query);
                g_free(last_why);
                return SMG_TEMPFAIL;
            }
            ldns_pkt_set_id(query, id);
            if (ldns_pkt2wire(&wire, query, &wlen) != LDNS_STATUS_OK) {
                smg_set_error(err, SMG_PERMFAIL, DSN_BAD_NAME,
                              "cannot build a DNS query for '%s'", name);
                ldns_pkt_free(query);
                g_free(last_why);
                return SMG_PERMFAIL;
            }
            ex = exchange_udp(dns, srv, query, wire, wlen, name, &reply, &why);
            if (ex == EXCHANGE_REPLY && ldns_pkt_tc(reply)) {
                smg_log_debug("dns: truncated reply from %s for %s/%s, "
                              "retrying over TCP",
                              srv->text, name, type_name(type));
                ldns_pkt_free(reply);
                reply = NULL;
                ex = exchange_tcp(dns, srv, query, wire, wlen, &reply, &why);
            }
            free(wire);
            if (ex == EXCHANGE_REPLY) {
                ldns_pkt_rcode rc = ldns_pkt_get_rcode(reply);
                gboolean is_answer = rc == LDNS_RCODE_NOERROR || rc == LDNS_RCODE_NXDOMAIN;

                if (is_answer && !no_recursion(reply)) {
                    smg_log_debug("dns: %s/%s from %s: %s", name,
                                  type_name(type), srv->text,
                                  smg_dns_rcode_name(rc));
                    ldns_pkt_free(query);
                    g_free(last_why);
                    *answer = reply;
                    return SMG_OK;
                }
                if (is_answer)
                    /* a referral, or a server that does not resolve for
                     * us: its empty answer says nothing of the name, and
                     * must not become a "no such domain" (a 5xx) */
                    why = g_strdup_printf("%s without an answer from %s, "
                                          "which is not a recursive "
                                          "resolver (RA and AA clear)",
                                          smg_dns_rcode_name(rc), srv->text);
                else
                    why = g_strdup_printf("%s from %s", smg_dns_rcode_name(rc),
                                          srv->text);
                ldns_pkt_free(reply);
            }
            if (ex == EXCHANGE_TIMEOUT) {
                smg_log_debug("dns: %s/%s: no reply from %s in %d ms", name,
                              type_name(type), srv->text, dns->timeout_ms);
            } else {
                smg_log_debug("dns: %s/%s: %s", name, type_name(type), why);
                failed = TRUE;
                g_free(last_why);
                last_why = why;
            }
        }
    }
    ldns_pkt_free(query);
    if (failed)
        smg_set_error(err, SMG_TEMPFAIL, DSN_DNS_TEMP,
                      "DNS lookup of %s failed: %s", name, last_why);
    else
        smg_set_error(err, SMG_TEMPFAIL, DSN_DNS_TEMP,
                      "DNS lookup of %s timed out", name);
    g_free(last_why);
    return SMG_TEMPFAIL;
}

enum smg_status
smg_dns_query(struct smg_dns *dns, const char *name, ldns_rr_type type,
              ldns_pkt **answer, GError **err)
{
    return query_flags(dns, name, type, LDNS_RD, answer, err);
}

enum smg_status
smg_dns_query_ad(struct smg_dns *dns, const char *name, ldns_rr_type type,
                 ldns_pkt **answer, gboolean *secure, GError **err)
{
    enum smg_status st = query_flags(dns, name, type, LDNS_RD | LDNS_AD,
                                     answer, err);

    *secure = st == SMG_OK && ldns_pkt_ad(*answer);
    return st;
}

/*
 * answer_rrs - smg_dns_answer_rrs; *unfinished (if not NULL) is set when
 * the chain was cut by the link limit with a CNAME still to follow (a loop,
 * or a chain longer than CNAME_MAX_LINKS): an empty list then says nothing
 * of the name.
 */
static ldns_rr_list *
answer_rrs(const ldns_pkt *pkt, ldns_rr_type type, gboolean *cname,
           gboolean *unfinished)
{
    ldns_rr_list *out = ldns_rr_list_new();
    const ldns_rr_list *q = ldns_pkt_question(pkt);
    const ldns_rr_list *an = ldns_pkt_answer(pkt);
    const ldns_rdf *owner;
    size_t n;

    if (cname != NULL)
        *cname = FALSE;
    if (unfinished != NULL)
        *unfinished = FALSE;
    if (q == NULL || ldns_rr_list_rr_count(q) < 1 || an == NULL)
        return out;
    owner = ldns_rr_owner(ldns_rr_list_rr(q, 0));
    n = ldns_rr_list_rr_count(an);
    for (int link = 0; link <= CNAME_MAX_LINKS && owner != NULL; link++) {
        const ldns_rdf *next = NULL;

        for (size_t i = 0; i < n; i++) {
            const ldns_rr *rr = ldns_rr_list_rr(an, i);

            if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN
                || ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
                continue;
            if (ldns_rr_get_type(rr) == type)
                ldns_rr_list_push_rr(out, ldns_rr_clone(rr));
            else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME
                     && ldns_rr_rd_count(rr) == 1)
                next = ldns_rr_rdf(rr, 0);
        }
        if (ldns_rr_list_rr_count(out) > 0 || next == NULL)
            break;
        if (cname != NULL)
            *cname = TRUE;
        if (link == CNAME_MAX_LINKS && unfinished != NULL)
            *unfinished = TRUE;
        owner = next;
    }
    return out;
}

ldns_rr_list *
smg_dns_answer_rrs(const ldns_pkt *pkt, ldns_rr_type type, gboolean *cname)
{
    return answer_rrs(pkt, type, cname, NULL);
}

/* lookup - query name/type and return the answer's records of that type */
static enum smg_status
lookup(struct smg_dns *dns, const char *name, ldns_rr_type type,
       ldns_rr_list **rrs, ldns_pkt_rcode *rcode, GError **err)
{
    ldns_pkt *pkt;
    enum smg_status st;
    gboolean unfinished;

    *rrs = NULL;
    if ((st = smg_dns_query(dns, name, type, &pkt, err)) != SMG_OK)
        return st;
    *rcode = ldns_pkt_get_rcode(pkt);
    *rrs = answer_rrs(pkt, type, NULL, &unfinished);
    ldns_pkt_free(pkt);
    if (unfinished) {
        /* a CNAME loop or an over-long chain: no answer, not "none" (which
           the sender-domain check would turn into a 550) */
        ldns_rr_list_deep_free(*rrs);
        *rrs = NULL;
        smg_set_error(err, SMG_TEMPFAIL, DSN_DNS_TEMP,
                      "DNS lookup of %s/%s failed: CNAME loop or chain of "
                      "over %d links", name, type_name(type), CNAME_MAX_LINKS);
        return SMG_TEMPFAIL;
    }
    return SMG_OK;
}

/* is_root - whether a dname rdf is the root "." */
static gboolean
is_root(const ldns_rdf *rdf)
{
    return rdf != NULL && ldns_rdf_size(rdf) == 1
           && ldns_rdf_data(rdf)[0] == 0;
}

/* dname_text - a dname as lower-case text without the final dot */
static char *
dname_text(const ldns_rdf *rdf)
{
    char *s, *out;
    size_t n;

    if (is_root(rdf))
        return g_strdup(".");
    if ((s = ldns_rdf2str(rdf)) == NULL)
        return g_strdup("");
    out = g_ascii_strdown(s, -1);
    free(s);
    n = strlen(out);
    if (n > 1 && out[n - 1] == '.')
        out[n - 1] = '\0';
    return out;
}

const char *
smg_dns_domain_name(enum smg_dns_domain d)
{
    switch (d) {
    case SMG_DNS_DOMAIN_OK:
        return "ok";
    case SMG_DNS_DOMAIN_NONE:
        return "none";
    case SMG_DNS_DOMAIN_NULLMX:
        return "nullmx";
    }
    return "unknown";
}

/* domain_done - set the domain-check results */
static enum smg_status
domain_done(enum smg_dns_domain *result, char **detail, enum smg_dns_domain r,
            const char *text)
{
    *result = r;
    if (detail != NULL)
        *detail = g_strdup(text);
    return SMG_OK;
}

enum smg_status
smg_dns_domain_check(struct smg_dns *dns, const char *domain,
                     enum smg_dns_domain *result, char **detail, GError **err)
{
    static const ldns_rr_type addr_types[] = {LDNS_RR_TYPE_A,
                                              LDNS_RR_TYPE_AAAA};
    static const char *const addr_names[] = {"a", "aaaa"};
    ldns_rr_list *rrs;
    ldns_pkt_rcode rcode;
    enum smg_status st;
    size_t n, nulls = 0;

    if (detail != NULL)
        *detail = NULL;
    *result = SMG_DNS_DOMAIN_NONE;
    if ((st = lookup(dns, domain, LDNS_RR_TYPE_MX, &rrs, &rcode, err))
        != SMG_OK)
        return st;
    n = ldns_rr_list_rr_count(rrs);
    for (size_t i = 0; i < n; i++)
        if (is_root(ldns_rr_mx_exchange(ldns_rr_list_rr(rrs, i))))
            nulls++;
    ldns_rr_list_deep_free(rrs);
    if (rcode == LDNS_RCODE_NXDOMAIN)
        return domain_done(result, detail, SMG_DNS_DOMAIN_NONE, "nxdomain");
    /* any null MX, even beside others (which RFC 7505 3 forbids), as
       smg-send and Postfix take it: mail to the domain bounces */
    if (nulls > 0)
        return domain_done(result, detail, SMG_DNS_DOMAIN_NULLMX, "null mx");
    if (n > 0)
        return domain_done(result, detail, SMG_DNS_DOMAIN_OK, "mx");

    for (unsigned t = 0; t < G_N_ELEMENTS(addr_types); t++) {
        st = lookup(dns, domain, addr_types[t], &rrs, &rcode, err);
        if (st != SMG_OK)
            return st;
        n = ldns_rr_list_rr_count(rrs);
        ldns_rr_list_deep_free(rrs);
        if (rcode == LDNS_RCODE_NXDOMAIN)
            return domain_done(result, detail, SMG_DNS_DOMAIN_NONE,
                               "nxdomain");
        if (n > 0)
            return domain_done(result, detail, SMG_DNS_DOMAIN_OK,
                               addr_names[t]);
    }
    return domain_done(result, detail, SMG_DNS_DOMAIN_NONE,
                       "no mx, a or aaaa");
}

/* mx_free - free a struct smg_dns_mx */
static void
mx_free(gpointer p)
{
    struct smg_dns_mx *mx = p;

    g_free(mx->host);
    g_free(mx);
}

/* mx_cmp - order MX records by preference */
static gint
mx_cmp(gconstpointer a, gconstpointer b)
{
    const struct smg_dns_mx *x = *(const struct smg_dns_mx *const *) a;
    const struct smg_dns_mx *y = *(const struct smg_dns_mx *const *) b;

    return x->pref < y->pref ? -1 : x->pref > y->pref;
}

enum smg_status
smg_dns_mx(struct smg_dns *dns, const char *domain, GPtrArray **hosts,
           ldns_pkt_rcode *rcode, GError **err)
{
    ldns_rr_list *rrs;
    ldns_pkt_rcode rc;
    enum smg_status st;
    GPtrArray *out;

    *hosts = NULL;
    if ((st = lookup(dns, domain, LDNS_RR_TYPE_MX, &rrs, &rc, err)) != SMG_OK)
        return st;
    out = g_ptr_array_new_with_free_func(mx_free);
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        const ldns_rdf *pref = ldns_rr_mx_preference(rr);
        const ldns_rdf *exch = ldns_rr_mx_exchange(rr);
        struct smg_dns_mx *mx;

        if (pref == NULL || exch == NULL)
            continue;
        mx = g_new0(struct smg_dns_mx, 1);
        mx->pref = ldns_rdf2native_int16(pref);
        mx->host = dname_text(exch);
        g_ptr_array_add(out, mx);
    }
    ldns_rr_list_deep_free(rrs);
    /* shuffle, then a stable sort: random order among equal preferences */
    smg_rand_shuffle(out);
    g_ptr_array_sort(out, mx_cmp);
    if (rcode != NULL)
        *rcode = rc;
    *hosts = out;
    return SMG_OK;
}

/* add_addrs - append the A or AAAA records of rrs as text to out */
static void
add_addrs(GPtrArray *out, const ldns_rr_list *rrs)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        const ldns_rdf *rdf = ldns_rr_rdf(ldns_rr_list_rr(rrs, i), 0);
        char text[INET6_ADDRSTRLEN];

        if (rdf == NULL)
            continue;
        if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_A
            && ldns_rdf_size(rdf) == 4
            && inet_ntop(AF_INET, ldns_rdf_data(rdf), text, sizeof(text)))
            g_ptr_array_add(out, g_strdup(text));
        else if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_AAAA
                 && ldns_rdf_size(rdf) == 16
                 && inet_ntop(AF_INET6, ldns_rdf_data(rdf), text,
                              sizeof(text)))
            g_ptr_array_add(out, g_strdup(text));
    }
}

/*
 * addr_lookup - smg_dns_a and smg_dns_addrs: the addresses of the ntypes
 * types, in order.  With lazy, the first type is the one wanted: its
 * failure fails the whole (the other type's addresses cannot stand in for
 * it), its NXDOMAIN ends the lookup, and the others are asked only when
 * it has no address.  Without, a failed lookup fails the whole only when
 * no address was found.
 */
static enum smg_status
addr_lookup(struct smg_dns *dns, const char *name, const ldns_rr_type *types,
            unsigned ntypes, gboolean lazy, GPtrArray **addrs, ldns_pkt_rcode *rcode,
            GError **err)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    GError *failure = NULL;
    enum smg_status failed = SMG_OK;
    gboolean nx = TRUE;

    *addrs = NULL;
    for (unsigned t = 0; t < ntypes && !(lazy && out->len > 0); t++) {
        ldns_rr_list *rrs;
        ldns_pkt_rcode rc;
        GError *e = NULL;
        enum smg_status st = lookup(dns, name, types[t], &rrs, &rc, &e);

        if (st != SMG_OK && lazy && t == 0) {
            g_propagate_error(err, e);
            g_ptr_array_unref(out);
            return st;
        }
        if (st != SMG_OK) {
            nx = FALSE;
            if (failed == SMG_OK) {
                failed = st;
                failure = e;
            } else {
                g_error_free(e);
            }
            continue;
        }
        if (rc != LDNS_RCODE_NXDOMAIN)
            nx = FALSE;
        add_addrs(out, rrs);
        ldns_rr_list_deep_free(rrs);
        if (lazy && rc == LDNS_RCODE_NXDOMAIN)
            break; /* no such name, whatever the type */
    }
    if (failed != SMG_OK && out->len == 0) {
        g_propagate_error(err, failure);
        g_ptr_array_unref(out);
        return failed;
    }
    if (failure != NULL) {
        smg_log_debug("%s: addresses found, one lookup failed: %s", name, failure->message);
        g_error_free(failure);
    }
    if (rcode != NULL)
        *rcode = nx ? LDNS_RCODE_NXDOMAIN : LDNS_RCODE_NOERROR;
    *addrs = out;
    return SMG_OK;
}

enum smg_status
smg_dns_addrs(struct smg_dns *dns, const char *host, int family, GPtrArray **addrs,
              ldns_pkt_rcode *rcode, GError **err)
{
    static const ldns_rr_type v4first[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA};
    static const ldns_rr_type v6first[] = {LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_A};

    return addr_lookup(dns, host, family == AF_INET6 ? v6first : v4first, 2,
                       family != AF_UNSPEC, addrs, rcode, err);
}

enum smg_status
smg_dns_a(struct smg_dns *dns, const char *name, GPtrArray **addrs,
          ldns_pkt_rcode *rcode, GError **err)
{
    static const ldns_rr_type a[] = {LDNS_RR_TYPE_A};

    return addr_lookup(dns, name, a, 1, FALSE, addrs, rcode, err);
}

enum smg_status
smg_dns_txt(struct smg_dns *dns, const char *name, GPtrArray **strings,
            ldns_pkt_rcode *rcode, GError **err)
{
    ldns_rr_list *rrs;
    ldns_pkt_rcode rc;
    enum smg_status st;
    GPtrArray *out;

    *strings = NULL;
    if ((st = lookup(dns, name, LDNS_RR_TYPE_TXT, &rrs, &rc, err)) != SMG_OK)
        return st;
    out = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        GString *s = g_string_new(NULL);

        for (size_t k = 0; k < ldns_rr_rd_count(rr); k++) {
            const ldns_rdf *rdf = ldns_rr_rdf(rr, k);
            const uint8_t *d = ldns_rdf_data(rdf);
            size_t size = ldns_rdf_size(rdf);

            /* a character-string: one length byte, then the bytes */
            if (size >= 1 && (size_t) d[0] + 1 <= size)
                g_string_append_len(s, (const char *) d + 1, d[0]);
        }
        g_ptr_array_add(out, g_string_free(s, FALSE));
    }
    ldns_rr_list_deep_free(rrs);
    if (rcode != NULL)
        *rcode = rc;
    *strings = out;
    return SMG_OK;
}

/* tlsa_free - free a struct smg_dns_tlsa */
static void
tlsa_free(gpointer p)
{
    struct smg_dns_tlsa *t = p;

    g_free(t->data);
    g_free(t);
}

enum smg_status
smg_dns_tlsa(struct smg_dns *dns, const char *host, unsigned port,
             GPtrArray **records, gboolean *secure, ldns_pkt_rcode *rcode,
             GError **err)
{
    char *name = g_strdup_printf("_%u._tcp.%s", port, host);
    ldns_pkt *pkt = NULL;
    ldns_rr_list *rrs;
    GPtrArray *out;
    enum smg_status st;

    *records = NULL;
    *secure = FALSE;
    st = smg_dns_query_ad(dns, name, LDNS_RR_TYPE_TLSA, &pkt, secure, err);
    g_free(name);
    if (st != SMG_OK)
        return st;
    out = g_ptr_array_new_with_free_func(tlsa_free);
    if (rcode != NULL)
        *rcode = ldns_pkt_get_rcode(pkt);
    rrs = smg_dns_answer_rrs(pkt, LDNS_RR_TYPE_TLSA, NULL);
    for (size_t i = 0; *secure && i < ldns_rr_list_rr_count(rrs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        struct smg_dns_tlsa *t;

        if (ldns_rr_rd_count(rr) != 4 || ldns_rdf_size(ldns_rr_rdf(rr, 0)) != 1
            || ldns_rdf_size(ldns_rr_rdf(rr, 1)) != 1
            || ldns_rdf_size(ldns_rr_rdf(rr, 2)) != 1)
            continue;
        t = g_new0(struct smg_dns_tlsa, 1);
        t->usage = ldns_rdf_data(ldns_rr_rdf(rr, 0))[0];
        t->selector = ldns_rdf_data(ldns_rr_rdf(rr, 1))[0];
        t->mtype = ldns_rdf_data(ldns_rr_rdf(rr, 2))[0];
        t->len = ldns_rdf_size(ldns_rr_rdf(rr, 3));
        t->data = g_malloc(t->len + 1);
        memcpy(t->data, ldns_rdf_data(ldns_rr_rdf(rr, 3)), t->len);
        g_ptr_array_add(out, t);
    }
    ldns_rr_list_deep_free(rrs);
    ldns_pkt_free(pkt);
    *records = out;
    return SMG_OK;
}
