/*
 * bayes-t.c - unit tests for lib/bayes: tokens, the chi-square arithmetic,
 * learning and classifying a synthetic set the test makes, the database
 * under concurrent readers and learners, and corrupt databases.
 *
 * The synthetic set: messages drawn (with a fixed seed) from a ham
 * vocabulary, a spam vocabulary and words both use.  Concurrency is real:
 * forked readers open and classify in a loop while the parent commits one
 * database after another; two forked learners add to one database at once
 * and every message must be counted.  Corrupt files are written by hand:
 * garbage, cut short, a flipped bit, records out of order, another version.
 * Children report through their exit status; only the parent writes TAP.
 * Learned messages are remembered: a set learned twice counts once, one
 * learned as the other class moves, a version 1 file (written here byte by
 * byte, as the old code wrote it) is read and upgraded.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "lib/bayes.h"
#include "lib/mimetext.h"
#include "t/tap/basic.h"

static char *top;

static const char *const ham_words[] = {
    "meeting", "project", "schedule", "report", "review", "deadline", "budget",
    "agenda", "minutes", "team", "release", "patch", "kernel", "compiler",
    "thanks", "regards", "attached", "draft", "question", "lunch",
};
static const char *const spam_words[] = {
    "viagra", "cheap", "winner", "offer", "guaranteed", "casino", "bonus",
    "unsubscribe", "millions", "pills", "discount", "credit", "lottery",
    "prize", "click", "exclusive", "limited", "refinance", "loan", "cash",
};
static const char *const both_words[] = {
    "the", "and", "you", "your", "this", "with", "for", "today", "please", "new",
};

/* make_message - a synthetic message (new string) */
static char *
make_message(GRand *r, gboolean spam, int n)
{
    GString *m = g_string_new(NULL);
    const char *const *own = spam ? spam_words : ham_words;

    g_string_append_printf(m, "From: %s@%s\nSubject: %s %s\n\n",
                           spam ? "promo" : "colleague", spam ? "deals.test" : "work.test",
                           own[g_rand_int_range(r, 0, 20)], own[g_rand_int_range(r, 0, 20)]);
    for (int i = 0; i < 60; i++) {
        const char *w = g_rand_int_range(r, 0, 3) == 0 ? both_words[g_rand_int_range(r, 0, 10)]
                                                       : own[g_rand_int_range(r, 0, 20)];
        g_string_append_printf(m, "%s%s", w, i % 12 == 11 ? "\n" : " ");
    }
    g_string_append_printf(m, "\nmessage %d\n", n);
    return g_string_free(m, FALSE);
}

/* tokens_of - the finished tokens of a message text, identified as the
   learner's (smg_spam_learn's) are */
static struct smg_bayes_tokens *
tokens_of(const char *msg, gboolean names)
{
    struct smg_mimetext *mt = smg_mimetext_parse(msg, strlen(msg), 0);
    struct smg_bayes_tokens *tok = smg_bayes_tokens_new(names);

    smg_bayes_tokenize(mt, tok);
    smg_bayes_tokens_identify(tok, mt);
    smg_mimetext_free(mt);
    return tok;
}

/* has_token - whether tok (with names) holds the token text */
static gboolean
has_token(const struct smg_bayes_tokens *tok, const char *text)
{
    for (guint i = 0; i < tok->hashes->len; i++) {
        const char *n = smg_bayes_tokens_name(tok, g_array_index(tok->hashes, guint64, i));
        if (n != NULL && strcmp(n, text) == 0)
            return TRUE;
    }
    return FALSE;
}

/* learn_set - learn n ham and n spam drawn with seed into path */
static enum smg_status
learn_set(const char *path, guint32 seed, int n, GError **err)
{
    GRand *r = g_rand_new_with_seed(seed);
    struct smg_bayes_learner *l = NULL;
    enum smg_status st = smg_bayes_learner_open(path, &l, err);

    for (int i = 0; st == SMG_OK && i < 2 * n; i++) {
        char *m = make_message(r, i % 2 == 1, i);
        struct smg_bayes_tokens *tok = tokens_of(m, FALSE);
        smg_bayes_learner_add(l, tok, i % 2 == 1);
        smg_bayes_tokens_free(tok);
        g_free(m);
    }
    if (st == SMG_OK)
        st = smg_bayes_learner_commit(l, err);
    smg_bayes_learner_free(l);
    g_rand_free(r);
    return st;
}

static void
test_tokens(void)
{
    struct smg_bayes_tokens *tok = tokens_of(
        "From: \"Ann\" <ann@Example.com>\n"
        "Subject: Cheap PILLS now\n"
        "Content-Type: text/html\n"
        "\n"
        "<html><font color=\"#FF0000\">Hello hello HELLO</font> "
        "supercalifragilisticexpialidocious "
        "<a href=\"http://www.shop.example.com/buy/now\">x</a> me@mail.test a\n",
        TRUE);
    guint n = tok->hashes->len;

    ok(has_token(tok, "hello"), "body word lower-cased");
    ok(has_token(tok, "subject:cheap") && has_token(tok, "subject:pills"), "subject words prefixed");
    ok(has_token(tok, "from:addr:ann") && has_token(tok, "from:addr:@example.com"),
       "From address parts");
    ok(has_token(tok, "from:name:ann"), "From display name");
    ok(has_token(tok, "hdr:subject"), "header presence");
    ok(has_token(tok, "skip:s 30"), "a long word becomes a skip token");
    ok(has_token(tok, "url:www.shop.example.com") && has_token(tok, "url:example.com")
           && has_token(tok, "url:buy"),
       "URI host, parent domain and path words");
    ok(has_token(tok, "tag:font") && has_token(tok, "tag:font:color=#ff0000"),
       "HTML tag and presentational attribute");
    ok(has_token(tok, "mime:html only"), "HTML-only flag");
    ok(!has_token(tok, "a"), "one-letter words dropped");
    /* unique and sorted */
    {
        gboolean sorted = TRUE;
        for (guint i = 1; i < n; i++)
            if (g_array_index(tok->hashes, guint64, i - 1) >= g_array_index(tok->hashes, guint64, i))
                sorted = FALSE;
        ok(sorted, "tokens sorted and unique (%u)", n);
    }
    {
        /* "hello" three times counts once */
        guint64 h = smg_bayes_hash("", "hello", 5) & ~(guint64) 1;
        unsigned count = 0;
        for (guint i = 0; i < n; i++)
            if (g_array_index(tok->hashes, guint64, i) == h)
                count++;
        is_int(1, count, "a repeated word is one token");
    }
    {
        guint64 hh = smg_bayes_hash("subject:", "cheap", 5) | 1;
        gboolean found = FALSE;
        for (guint i = 0; i < n; i++)
            if (g_array_index(tok->hashes, guint64, i) == hh)
                found = TRUE;
        ok(found, "header tokens carry the header bit");
    }
    smg_bayes_tokens_free(tok);
}

/*
 * test_html_tags - HTML with a million tags that never close is tokenized
 * in linear time: each tag's '>' was looked for to the end of the HTML
 * (quadratic: minutes for 2 MB with a large max_text).  A child does it
 * under a 10 s alarm; the linear scan takes milliseconds.
 */
static void
test_html_tags(void)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        GString *m = g_string_new("From: a@b.test\nContent-Type: text/html\n\n");
        struct smg_mimetext *mt;
        struct smg_bayes_tokens *tok;

        for (int i = 0; i < 1000000; i++)
            g_string_append(m, "<a");
        g_string_append(m, "\n");
        alarm(10);
        mt = smg_mimetext_parse(m->str, m->len, 4 * 1024 * 1024);
        tok = smg_bayes_tokens_new(FALSE);
        smg_bayes_tokenize(mt, tok);
        _exit(mt->html->len > 1000000 && tok->hashes->len > 0 ? 0 : 1);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        status = -1;
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "a million unclosed tags are tokenized in linear time (status %d)", status);
}

static void
test_chi2(void)
{
    ok(fabs(smg_bayes_chi2q(0, 2) - 1.0) < 1e-12, "chi2q(0, 2) = 1");
    ok(fabs(smg_bayes_chi2q(2, 2) - exp(-1)) < 1e-12, "chi2q(2, 2) = e^-1");
    ok(fabs(smg_bayes_chi2q(4, 4) - 3 * exp(-2)) < 1e-12, "chi2q(4, 4) = 3e^-2");
    ok(smg_bayes_chi2q(5000, 10) < 1e-300, "huge chi-square underflows to 0");
    ok(smg_bayes_chi2q(1, 300) <= 1.0, "never above 1");
}

static void
test_learn_classify(void)
{
    char *path = g_build_filename(top, "learn.db", NULL);
    struct smg_bayes *db = NULL;
    struct smg_bayes_params p;
    GError *err = NULL;
    GRand *r;
    int right = 0;

    smg_bayes_params_default(&p);
    is_int(SMG_OK, smg_bayes_open(path, &db, &err), "missing database opens empty");
    ok(db != NULL && smg_bayes_nspam(db) == 0 && smg_bayes_nham(db) == 0, "nothing learned");
    {
        struct smg_bayes_tokens *tok = tokens_of("Subject: x\n\nviagra cheap\n", FALSE);
        struct smg_bayes_result res;
        smg_bayes_classify(db, tok, &p, FALSE, &res);
        ok(!res.usable && res.prob == 0.5, "untrained: no verdict");
        smg_bayes_tokens_free(tok);
    }
    smg_bayes_close(db);

    is_int(SMG_OK, learn_set(path, 42, 40, &err), "learned 40 ham and 40 spam");
    is_int(SMG_OK, smg_bayes_open(path, &db, &err), "database opens");
    is_int(40, (long) smg_bayes_nspam(db), "40 spam counted");
    is_int(40, (long) smg_bayes_nham(db), "40 ham counted");
    ok(smg_bayes_ntokens(db) > 40, "tokens stored (%" G_GUINT64_FORMAT ")", smg_bayes_ntokens(db));
    {
        guint32 s = 0, h = 0;
        ok(smg_bayes_lookup(db, smg_bayes_hash("", "viagra", 6) & ~(guint64) 1, &s, &h) && s > 0
               && h == 0,
           "a spam word has spam counts only");
        ok(!smg_bayes_lookup(db, 12345, &s, &h), "an unknown token is not found");
    }
    /* new messages, another seed */
    r = g_rand_new_with_seed(7);
    for (int i = 0; i < 40; i++) {
        gboolean spam = i % 2 == 1;
        char *m = make_message(r, spam, 1000 + i);
        struct smg_bayes_tokens *tok = tokens_of(m, FALSE);
        struct smg_bayes_result res;
        smg_bayes_classify(db, tok, &p, FALSE, &res);
        if (res.usable && (spam ? res.prob > 0.9 : res.prob < 0.1))
            right++;
        smg_bayes_tokens_free(tok);
        g_free(m);
    }
    g_rand_free(r);
    is_int(40, right, "all 40 new messages classified with confidence");
    {
        struct smg_bayes_tokens *tok = tokens_of("Subject: x\n\nviagra casino lottery\n", TRUE);
        struct smg_bayes_result res;
        smg_bayes_classify(db, tok, &p, TRUE, &res);
        ok(res.clues != NULL && res.clues->len == res.nclues && res.nclues >= 3,
           "clues returned when asked (%u)", res.nclues);
        if (res.clues != NULL && res.clues->len > 0) {
            const struct smg_bayes_clue *c = &g_array_index(res.clues, struct smg_bayes_clue, 0);
            ok(c->f > 0.9 && smg_bayes_tokens_name(tok, c->hash) != NULL,
               "strongest clue is spammy and named");
            g_array_unref(res.clues);
        } else {
            ok(0, "strongest clue is spammy and named");
        }
        smg_bayes_tokens_free(tok);
    }
    p.min_learned = 41;
    {
        struct smg_bayes_tokens *tok = tokens_of("Subject: x\n\nviagra\n", FALSE);
        struct smg_bayes_result res;
        smg_bayes_classify(db, tok, &p, FALSE, &res);
        ok(!res.usable, "below min_learned: no verdict");
        smg_bayes_tokens_free(tok);
    }
    smg_bayes_close(db);

    /* learning again adds */
    is_int(SMG_OK, learn_set(path, 43, 5, &err), "learned 5 more of each");
    is_int(SMG_OK, smg_bayes_open(path, &db, &err), "reopened");
    is_int(45, (long) smg_bayes_nspam(db), "counts add up");
    smg_bayes_close(db);
    g_free(path);
}

static void
test_concurrency(void)
{
    char *path = g_build_filename(top, "conc.db", NULL);
    GError *err = NULL;
    struct smg_bayes *old = NULL;
    pid_t readers[3], learners[2];
    int failed = 0;

    is_int(SMG_OK, learn_set(path, 1, 30, &err), "initial database");
    is_int(SMG_OK, smg_bayes_open(path, &old, &err), "a reader maps it");

    /* readers open and classify in a loop while the parent relearns */
    for (int i = 0; i < 3; i++) {
        readers[i] = fork();
        if (readers[i] == 0) {
            struct smg_bayes_params p;
            int bad = 0;
            smg_bayes_params_default(&p);
            for (int k = 0; k < 300; k++) {
                struct smg_bayes *db = NULL;
                GError *e = NULL;
                struct smg_bayes_tokens *tok;
                struct smg_bayes_result res;
                if (smg_bayes_open(path, &db, &e) != SMG_OK) {
                    bad++;
                    g_clear_error(&e);
                    continue;
                }
                tok = tokens_of("Subject: x\n\nviagra casino lottery\n", FALSE);
                smg_bayes_classify(db, tok, &p, FALSE, &res);
                if (!res.usable || res.prob < 0.9)
                    bad++;
                smg_bayes_tokens_free(tok);
                smg_bayes_close(db);
            }
            _exit(bad == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 10; i++)
        if (learn_set(path, 100 + (guint32) i, 3, &err) != SMG_OK) {
            diag("learn: %s", err->message);
            g_clear_error(&err);
            failed++;
        }
    is_int(0, failed, "ten commits while readers read");
    for (int i = 0; i < 3; i++) {
        int status = 0;
        waitpid(readers[i], &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "reader %d always saw a whole, usable database", i);
    }
    ok(smg_bayes_changed(old), "the old reader notices the file was replaced");
    is_int(30, (long) smg_bayes_nspam(old), "and still reads its own mapping");
    smg_bayes_close(old);

    /* two learners at once: the lock makes them take turns, none is lost */
    for (int i = 0; i < 2; i++) {
        learners[i] = fork();
        if (learners[i] == 0) {
            GError *e = NULL;
            int bad = 0;
            for (int k = 0; k < 5; k++)
                if (learn_set(path, 500 + (guint32) (i * 10 + k), 2, &e) != SMG_OK)
                    bad++;
            _exit(bad == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        int status = 0;
        waitpid(learners[i], &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "learner %d committed", i);
    }
    {
        struct smg_bayes *db = NULL;
        is_int(SMG_OK, smg_bayes_open(path, &db, &err), "database after concurrent learners");
        /* 30 + 10 commits x 3 + 2 learners x 5 commits x 2 */
        is_int(30 + 30 + 20, db != NULL ? (long) smg_bayes_nspam(db) : -1,
               "every learned message counted");
        smg_bayes_close(db);
    }
    g_free(path);
}

/*
 * test_rewritten_in_place - an operator who restores a backup with cp (or
 * a tool that truncates and rewrites) changes the file a reader opened,
 * not a new one: with the file mapped, the reader's next lookup past the
 * new end killed it with SIGBUS (a --watch worker, mid-message).  The
 * reader must keep what it opened and see the new file on its next open.
 */
static void
test_rewritten_in_place(void)
{
    char *path = g_build_filename(top, "inplace.db", NULL);
    GError *err = NULL;
    struct smg_bayes *db = NULL;
    int status = 0;
    pid_t pid;

    is_int(SMG_OK, learn_set(path, 3, 30, &err), "a database to rewrite in place");
    {
        /* and one ham of 2000 words of its own, for a file of many pages */
        struct smg_bayes_learner *l = NULL;
        struct smg_bayes_tokens *tok = smg_bayes_tokens_new(FALSE);
        if (smg_bayes_learner_open(path, &l, &err) != SMG_OK)
            bail("learner: %s", err->message);
        for (int i = 0; i < 2000; i++) {
            char w[32];
            g_snprintf(w, sizeof w, "word%d", i);
            smg_bayes_tokens_add(tok, "", w, strlen(w));
        }
        smg_bayes_learner_add(l, tok, FALSE);
        if (smg_bayes_learner_commit(l, &err) != SMG_OK)
            bail("commit: %s", err->message);
        smg_bayes_learner_free(l);
        smg_bayes_tokens_free(tok);
    }
    is_int(SMG_OK, smg_bayes_open(path, &db, &err), "a reader opens it");
    ok(db != NULL && smg_bayes_ntokens(db) * 16 > 3 * 4096, "it spans several pages (%lu tokens)",
       db != NULL ? (unsigned long) smg_bayes_ntokens(db) : 0UL);
    pid = fork();
    if (pid == 0) {
        /* as cp does: truncate, then write the new (here: smaller) file */
        int fd = open(path, O_WRONLY | O_TRUNC);
        struct smg_bayes_tokens *tok;
        struct smg_bayes_params p;
        struct smg_bayes_result res;
        guint32 s = 0, h = 0;
        guint64 found = 0;

        if (fd < 0 || write(fd, "SMGBAYS1", 8) != 8 || close(fd) != 0)
            _exit(3);
        for (guint64 x = 0; x < 64; x++)
            found += smg_bayes_lookup(db, x << 58, &s, &h);
        smg_bayes_params_default(&p);
        tok = tokens_of("Subject: x\n\nviagra casino lottery\n", FALSE);
        smg_bayes_classify(db, tok, &p, FALSE, &res);
        smg_bayes_tokens_free(tok);
        _exit(res.usable && res.prob > 0.9 && smg_bayes_nspam(db) == 30 ? 0 : 2);
    }
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the reader still classifies with what it opened (%s %d)",
       WIFSIGNALED(status) ? "killed by signal" : "exit",
       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    ok(smg_bayes_changed(db), "and notices the file changed");
    smg_bayes_close(db);
    db = NULL;
    is_int(SMG_CONFIG, smg_bayes_open(path, &db, &err), "its next open reports the cut file");
    g_clear_error(&err);
    g_free(path);
}

/* write_bytes - a file of exactly data[0..len) */
static void
write_bytes(const char *path, const void *data, gsize len)
{
    GError *e = NULL;

    if (!g_file_set_contents(path, data, (gssize) len, &e))
        bail("write %s: %s", path, e->message);
}

/* expect_corrupt - opening path fails with SMG_CONFIG naming it */
static void
expect_corrupt(const char *path, const char *what)
{
    struct smg_bayes *db = NULL;
    struct smg_bayes_learner *l = NULL;
    GError *err = NULL;
    enum smg_status st = smg_bayes_open(path, &db, &err);

    is_int(SMG_CONFIG, st, "%s: reported as a config error", what);
    ok(err != NULL && g_str_has_prefix(err->message, "4.3.5 Bayes database")
           && strstr(err->message, path) != NULL,
       "%s: message names the file (%s)", what, err != NULL ? err->message : "none");
    ok(db == NULL, "%s: no database handed out", what);
    g_clear_error(&err);
    is_int(SMG_CONFIG, smg_bayes_learner_open(path, &l, &err), "%s: learner refuses it too", what);
    g_clear_error(&err);
    smg_bayes_learner_free(l);
}

static void
test_corrupt(void)
{
    char *good = g_build_filename(top, "good.db", NULL);
    char *bad = g_build_filename(top, "bad.db", NULL);
    GError *err = NULL;
    char *data = NULL;
    gsize len = 0;

    is_int(SMG_OK, learn_set(good, 9, 10, &err), "a good database to damage");
    if (!g_file_get_contents(good, &data, &len, NULL) || len < 64 + 32)
        bail("cannot read %s", good);

    {
        static const char text[] = "this is not a database at all, just some text that is "
                                   "long enough to have a header's worth of bytes in it.\n";
        write_bytes(bad, text, sizeof text - 1);
    }
    expect_corrupt(bad, "garbage");
    write_bytes(bad, data, 20);
    expect_corrupt(bad, "shorter than a header");
    write_bytes(bad, data, len - 5);
    expect_corrupt(bad, "cut short");
    {
        char *copy = g_memdup2(data, len);
        guint64 n;
        memcpy(&n, data + 32, 8); /* ntokens */
        copy[64 + n * 16 - 3] ^= 0x10; /* a count in the last record */
        write_bytes(bad, copy, len);
        expect_corrupt(bad, "flipped bit");
        g_free(copy);
    }
    {
        /* the digests are the learners' alone: readers skip them */
        char *copy = g_memdup2(data, len);
        struct smg_bayes *db = NULL;
        struct smg_bayes_learner *l = NULL;
        copy[len - 3] ^= 0x10; /* in the last digest */
        write_bytes(bad, copy, len);
        is_int(SMG_OK, smg_bayes_open(bad, &db, &err), "flipped bit in a digest: readers read on");
        smg_bayes_close(db);
        g_clear_error(&err);
        is_int(SMG_CONFIG, smg_bayes_learner_open(bad, &l, &err),
               "flipped bit in a digest: a learner refuses it");
        ok(err != NULL && strstr(err->message, "checksum mismatch of the learned messages"),
           "and says why (%s)", err != NULL ? err->message : "none");
        g_clear_error(&err);
        smg_bayes_learner_free(l);
        g_free(copy);
    }
    {
        char *copy = g_memdup2(data, len);
        char tmp[16];
        memcpy(tmp, copy + 64, 16); /* swap the first two records */
        memcpy(copy + 64, copy + 80, 16);
        memcpy(copy + 80, tmp, 16);
        write_bytes(bad, copy, len);
        expect_corrupt(bad, "records out of order");
        g_free(copy);
    }
    {
        char *copy = g_memdup2(data, len);
        copy[8] = 9; /* version */
        write_bytes(bad, copy, len);
        expect_corrupt(bad, "another version");
        g_free(copy);
    }
    (void) unlink(bad);
    if (mkdir(bad, 0755) != 0)
        bail("mkdir %s", bad);
    {
        struct smg_bayes *db = NULL;
        enum smg_status st = smg_bayes_open(bad, &db, &err);
        ok(st != SMG_OK && db == NULL, "a folder is no database");
        g_clear_error(&err);
        rmdir(bad);
    }
    {
        /* an unreadable file (as root, chmod does not stop us; use a
         * path under a regular file instead) */
        char *under = g_build_filename(good, "x.db", NULL);
        struct smg_bayes *db = NULL;
        enum smg_status st = smg_bayes_open(under, &db, &err);
        is_int(SMG_TEMPFAIL, st, "a path that cannot be opened is temporary");
        g_clear_error(&err);
        g_free(under);
    }
    if (mkfifo(bad, 0644) != 0)
        bail("mkfifo %s", bad);
    alarm(20); /* the old code blocked in open() for ever */
    expect_corrupt(bad, "a FIFO");
    alarm(0);
    (void) unlink(bad);
    g_free(data);
    g_free(good);
    g_free(bad);
}

/* test_dead_tmp - a learner removes what a killed one left behind */
static void
test_dead_tmp(void)
{
    char *db = g_build_filename(top, "tmp.db", NULL);
    char *dead = g_strconcat(db, ".tmp.4242", NULL);
    char *other = g_strconcat(db, ".tmp.notapid", NULL);
    char *near = g_build_filename(top, "tmp.dbx.tmp.4242", NULL);
    GError *err = NULL;

    is_int(SMG_OK, learn_set(db, 5, 5, &err), "a database");
    write_bytes(dead, "half a database", 15);
    write_bytes(other, "x", 1);
    write_bytes(near, "x", 1);
    is_int(SMG_OK, learn_set(db, 6, 5, &err), "learning again");
    ok(!g_file_test(dead, G_FILE_TEST_EXISTS),
       "PATH.tmp.PID of a learner that died is removed");
    ok(g_file_test(other, G_FILE_TEST_EXISTS)
           && g_file_test(near, G_FILE_TEST_EXISTS),
       "files that merely look alike stay");
    (void) unlink(other);
    (void) unlink(near);
    g_free(near);
    g_free(other);
    g_free(dead);
    g_free(db);
}

/* fnv64 - the database's checksum: FNV-1a over p[0..len) */
static guint64
fnv64(const void *p, gsize len)
{
    guint64 h = 0xcbf29ce484222325ULL;

    for (gsize i = 0; i < len; i++) {
        h ^= ((const unsigned char *) p)[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A token record as the file holds it. */
struct rec {
    guint64 hash;
    guint32 spam;
    guint32 ham;
};

/* cmp_rec - order of records by hash */
static int
cmp_rec(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;

    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/*
 * write_v1 - a version 1 database, byte for byte as the code before the
 * digests wrote it: magic, version 1, byte-order mark, nspam, nham,
 * ntokens, checksum of the records, 16 reserved zero bytes, then the
 * records (sorted by hash)
 */
static void
write_v1(const char *path, guint64 nspam, guint64 nham, const struct rec *r, guint64 n)
{
    GString *f = g_string_new(NULL);
    guint32 version = 1, bom = 0x01020304u;
    guint64 sum = fnv64(r, (gsize) n * sizeof *r);
    static const char zero[16];

    g_string_append_len(f, "SMGBAYS1", 8);
    g_string_append_len(f, (const char *) &version, 4);
    g_string_append_len(f, (const char *) &bom, 4);
    g_string_append_len(f, (const char *) &nspam, 8);
    g_string_append_len(f, (const char *) &nham, 8);
    g_string_append_len(f, (const char *) &n, 8);
    g_string_append_len(f, (const char *) &sum, 8);
    g_string_append_len(f, zero, 16);
    g_string_append_len(f, (const char *) r, (gssize) (n * sizeof *r));
    write_bytes(path, f->str, f->len);
    g_string_free(f, TRUE);
}

/* learn_msgs - add msgs[0..n) (odd ones spam, or all as spam/ham when
 * as >= 0) to path; how many adds returned what; commit status */
static enum smg_status
learn_msgs(const char *path, char **msgs, int n, int as, unsigned what[3], GError **err)
{
    struct smg_bayes_learner *l = NULL;
    enum smg_status st = smg_bayes_learner_open(path, &l, err);

    what[0] = what[1] = what[2] = 0;
    for (int i = 0; st == SMG_OK && i < n; i++) {
        struct smg_bayes_tokens *tok = tokens_of(msgs[i], FALSE);
        what[smg_bayes_learner_add(l, tok, as < 0 ? i % 2 == 1 : as == 1)]++;
        smg_bayes_tokens_free(tok);
    }
    if (st == SMG_OK)
        st = smg_bayes_learner_commit(l, err);
    smg_bayes_learner_free(l);
    return st;
}

/* counts_of - nspam, nham, ntokens and a word's counts in path */
static void
counts_of(const char *path, const char *word, guint64 c[5])
{
    struct smg_bayes *db = NULL;
    GError *err = NULL;
    guint32 s = 0, h = 0;

    memset(c, 0, 5 * sizeof *c);
    if (smg_bayes_open(path, &db, &err) != SMG_OK) {
        diag("open %s: %s", path, err->message);
        g_clear_error(&err);
        return;
    }
    c[0] = smg_bayes_nspam(db);
    c[1] = smg_bayes_nham(db);
    c[2] = smg_bayes_ntokens(db);
    if (smg_bayes_lookup(db, smg_bayes_hash("", word, strlen(word)) & ~(guint64) 1, &s, &h)) {
        c[3] = s;
        c[4] = h;
    }
    smg_bayes_close(db);
}

/*
 * test_learned_once - a set learned again (the cron job over a growing
 * folder) is not counted again: counts, tokens and the file stay; one
 * message twice in one run counts once.  The digests cost 16 bytes a
 * message.
 */
static void
test_learned_once(void)
{
    char *path = g_build_filename(top, "once.db", NULL);
    char *path2 = g_build_filename(top, "once2.db", NULL);
    GRand *r = g_rand_new_with_seed(11);
    char *msgs[20];
    unsigned what[3];
    guint64 before[5], after[5];
    char *a = NULL, *b = NULL;
    gsize alen = 0, blen = 0;
    GError *err = NULL;

    for (int i = 0; i < 20; i++)
        msgs[i] = make_message(r, i % 2 == 1, i);
    is_int(SMG_OK, learn_msgs(path, msgs, 20, -1, what, &err), "learn 10 spam and 10 ham");
    is_int(20, what[SMG_BAYES_LEARNED_NEW], "all 20 are new");
    counts_of(path, "viagra", before);
    ok(before[0] == 10 && before[1] == 10 && before[3] > 0, "10 spam, 10 ham, viagra %lu",
       (unsigned long) before[3]);
    if (!g_file_get_contents(path, &a, &alen, NULL))
        bail("read %s", path);
    is_int(64 + 16 * (long) before[2] + 16 * 20, (long) alen,
           "the file: header, 16 bytes a token, 16 bytes a message learned");

    is_int(SMG_OK, learn_msgs(path, msgs, 20, -1, what, &err), "learn the same 20 again");
    is_int(20, what[SMG_BAYES_LEARNED_ALREADY], "all 20 already learned");
    counts_of(path, "viagra", after);
    ok(memcmp(before, after, sizeof before) == 0,
       "message and token counts unchanged (%lu spam, %lu ham, %lu tokens, viagra %lu)",
       (unsigned long) after[0], (unsigned long) after[1], (unsigned long) after[2],
       (unsigned long) after[3]);
    if (!g_file_get_contents(path, &b, &blen, NULL))
        bail("read %s", path);
    ok(alen == blen && memcmp(a, b, alen) == 0, "the file is the same");

    /* the same message twice in one run */
    {
        char *twice[3] = {msgs[1], msgs[1], msgs[3]};
        is_int(SMG_OK, learn_msgs(path2, twice, 3, 1, what, &err), "one message twice in a run");
        ok(what[SMG_BAYES_LEARNED_NEW] == 2 && what[SMG_BAYES_LEARNED_ALREADY] == 1,
           "counted once (new %u, already %u)", what[0], what[1]);
        counts_of(path2, "viagra", after);
        is_int(2, (long) after[0], "2 spam");
    }
    /* a copy of a message with another body is another message */
    {
        char *other = g_strconcat(msgs[1], "x\n", NULL);
        char *one[1] = {other};
        is_int(SMG_OK, learn_msgs(path2, one, 1, 1, what, &err), "a message with one more line");
        is_int(1, what[SMG_BAYES_LEARNED_NEW], "is a new message");
        g_free(other);
    }
    g_free(a);
    g_free(b);
    for (int i = 0; i < 20; i++)
        g_free(msgs[i]);
    g_rand_free(r);
    g_free(path2);
    g_free(path);
}

/*
 * test_moved - a message learned as spam and then as ham (the operator
 * corrects a mistake) moves: its count and its tokens' counts leave spam
 * for ham, never below 0
 */
static void
test_moved(void)
{
    char *path = g_build_filename(top, "moved.db", NULL);
    GRand *r = g_rand_new_with_seed(12);
    char *msgs[20];
    char *odd = g_strdup("From: odd@deals.test\nSubject: odd one\nMessage-ID: <odd@deals.test>\n\n"
                         "zzunique viagra casino\n");
    char *one[1] = {odd};
    unsigned what[3];
    guint64 c0[5], c1[5], c[5];
    GError *err = NULL;

    for (int i = 0; i < 20; i++)
        msgs[i] = make_message(r, i % 2 == 1, i);
    is_int(SMG_OK, learn_msgs(path, msgs, 20, -1, what, &err), "learn 10 spam and 10 ham");
    counts_of(path, "viagra", c0);
    is_int(SMG_OK, learn_msgs(path, one, 1, 1, what, &err), "learn one more as spam");
    counts_of(path, "zzunique", c);
    ok(c[0] == 11 && c[1] == 10 && c[3] == 1 && c[4] == 0, "11 spam, its word 1 spam 0 ham");
    counts_of(path, "viagra", c1);
    is_int((long) c0[3] + 1, (long) c1[3], "viagra one more spam");

    is_int(SMG_OK, learn_msgs(path, one, 1, 0, what, &err), "learn it as ham");
    is_int(1, what[SMG_BAYES_LEARNED_MOVED], "it moved");
    counts_of(path, "zzunique", c);
    ok(c[0] == 10 && c[1] == 11 && c[3] == 0 && c[4] == 1,
       "10 spam, 11 ham, its word 0 spam 1 ham (%lu %lu %lu %lu)", (unsigned long) c[0],
       (unsigned long) c[1], (unsigned long) c[3], (unsigned long) c[4]);
    counts_of(path, "viagra", c);
    ok(c[3] == c0[3] && c[4] == c0[4] + 1, "viagra's spam count back, one more ham");
    is_int(SMG_OK, learn_msgs(path, one, 1, 0, what, &err), "learn it as ham again");
    is_int(1, what[SMG_BAYES_LEARNED_ALREADY], "already learned as ham");
    {
        char *both[2] = {odd, odd};
        struct smg_bayes_learner *l = NULL;
        struct smg_bayes_tokens *tok;
        guint64 d[5];
        counts_of(path, "zzunique", d);
        is_int(SMG_OK, smg_bayes_learner_open(path, &l, &err), "a learner");
        tok = tokens_of(both[0], FALSE);
        is_int(SMG_BAYES_LEARNED_MOVED, smg_bayes_learner_add(l, tok, TRUE), "to spam");
        is_int(SMG_BAYES_LEARNED_MOVED, smg_bayes_learner_add(l, tok, FALSE),
               "and back to ham in one run");
        is_int(SMG_OK, smg_bayes_learner_commit(l, &err), "commit");
        smg_bayes_learner_free(l);
        smg_bayes_tokens_free(tok);
        counts_of(path, "zzunique", c);
        ok(memcmp(c, d, sizeof c) == 0, "nothing changed");
    }
    /* counts that are lower than a move takes off (a file put together
     * by hand, or counts saturated) stay at 0 */
    {
        char *data = NULL;
        gsize len = 0;
        guint64 n, zero = 0, sum;
        guint64 want = smg_bayes_hash("", "zzunique", 8) & ~(guint64) 1;
        struct rec *rec;
        if (!g_file_get_contents(path, &data, &len, NULL))
            bail("read %s", path);
        memcpy(&n, data + 32, 8);
        memcpy(data + 24, &zero, 8); /* nham */
        rec = (struct rec *) (void *) (data + 64);
        for (guint64 i = 0; i < n; i++)
            if (rec[i].hash == want)
                rec[i].ham = 0;
        sum = fnv64(rec, (gsize) n * sizeof *rec);
        memcpy(data + 40, &sum, 8);
        write_bytes(path, data, len);
        g_free(data);
        is_int(SMG_OK, learn_msgs(path, one, 1, 1, what, &err), "move it to spam");
        counts_of(path, "zzunique", c);
        ok(c[0] == 11 && c[1] == 0 && c[3] == 1 && c[4] == 0,
           "ham counts stay at 0 (%lu spam, %lu ham, word %lu %lu)", (unsigned long) c[0],
           (unsigned long) c[1], (unsigned long) c[3], (unsigned long) c[4]);
    }
    for (int i = 0; i < 20; i++)
        g_free(msgs[i]);
    g_free(odd);
    g_rand_free(r);
    g_free(path);
}

/*
 * test_old_format - a version 1 database (no digests) is read as it is,
 * and the next learner writes version 2 with its counts kept
 */
static void
test_old_format(void)
{
    char *path = g_build_filename(top, "v1.db", NULL);
    char *fresh = g_build_filename(top, "v1-fresh.db", NULL);
    GRand *r = g_rand_new_with_seed(13);
    char *msgs[20];
    struct rec recs[3];
    unsigned what[3];
    guint64 c[5], f[5];
    GError *err = NULL;
    struct smg_bayes *db = NULL;
    char *data = NULL;
    gsize len = 0;

    recs[0] = (struct rec){smg_bayes_hash("", "viagra", 6) & ~(guint64) 1, 7, 0};
    recs[1] = (struct rec){smg_bayes_hash("", "meeting", 7) & ~(guint64) 1, 0, 6};
    recs[2] = (struct rec){smg_bayes_hash("", "zzoldword", 9) & ~(guint64) 1, 3, 2};
    qsort(recs, 3, sizeof recs[0], cmp_rec);
    write_v1(path, 7, 6, recs, 3);
    is_int(SMG_OK, smg_bayes_open(path, &db, &err), "a version 1 file opens");
    ok(db != NULL && smg_bayes_nspam(db) == 7 && smg_bayes_nham(db) == 6
           && smg_bayes_ntokens(db) == 3,
       "with its counts");
    smg_bayes_close(db);
    counts_of(path, "zzoldword", c);
    ok(c[3] == 3 && c[4] == 2, "and its tokens");

    for (int i = 0; i < 20; i++)
        msgs[i] = make_message(r, i % 2 == 1, i);
    is_int(SMG_OK, learn_msgs(fresh, msgs, 20, -1, what, &err), "the set into a fresh file");
    counts_of(fresh, "viagra", f);
    is_int(SMG_OK, learn_msgs(path, msgs, 20, -1, what, &err), "learned into the old file");
    is_int(20, what[SMG_BAYES_LEARNED_NEW], "all new");
    if (!g_file_get_contents(path, &data, &len, NULL) || len < 64)
        bail("read %s", path);
    is_int(2, data[8], "now version 2");
    g_free(data);
    counts_of(path, "viagra", c);
    ok(c[0] == 17 && c[1] == 16 && c[3] == 7 + f[3], "old and new counts add up (viagra %lu)",
       (unsigned long) c[3]);
    counts_of(path, "zzoldword", c);
    ok(c[3] == 3 && c[4] == 2, "old tokens kept");
    is_int(SMG_OK, learn_msgs(path, msgs, 20, -1, what, &err), "learned again");
    is_int(20, what[SMG_BAYES_LEARNED_ALREADY], "remembered since the upgrade");
    counts_of(path, "viagra", c);
    ok(c[0] == 17 && c[1] == 16, "counts unchanged");
    for (int i = 0; i < 20; i++)
        g_free(msgs[i]);
    g_rand_free(r);
    g_free(fresh);
    g_free(path);
}

/* test_replaced - a file replaced behind the lock (a backup put back)
 * while a learner runs: the learner writes nothing */
static void
test_replaced(void)
{
    char *path = g_build_filename(top, "replaced.db", NULL);
    struct smg_bayes_learner *l = NULL;
    struct smg_bayes_tokens *tok = tokens_of("Subject: x\n\nviagra casino\n", FALSE);
    struct rec rec = {smg_bayes_hash("", "meeting", 7) & ~(guint64) 1, 0, 1};
    GError *err = NULL;
    guint64 c[5];

    is_int(SMG_OK, learn_set(path, 14, 3, &err), "a database");
    is_int(SMG_OK, smg_bayes_learner_open(path, &l, &err), "a learner");
    /* its own commits are no replacement: it goes on after them */
    smg_bayes_learner_add(l, tok, TRUE);
    is_int(SMG_OK, smg_bayes_learner_commit(l, &err), "a first commit");
    is_int(SMG_BAYES_LEARNED_ALREADY, smg_bayes_learner_add(l, tok, TRUE),
           "what it committed, it remembers");
    {
        struct smg_bayes_tokens *t2 = tokens_of("Subject: y\n\nviagra lottery\n", FALSE);
        is_int(SMG_BAYES_LEARNED_NEW, smg_bayes_learner_add(l, t2, TRUE), "a new one");
        smg_bayes_tokens_free(t2);
    }
    is_int(SMG_OK, smg_bayes_learner_commit(l, &err), "a second commit");
    counts_of(path, "viagra", c);
    is_int(5, (long) c[0], "3 + 2 spam");
    smg_bayes_learner_add(l, tok, FALSE);
    write_v1(path, 0, 1, &rec, 1);
    is_int(SMG_TEMPFAIL, smg_bayes_learner_commit(l, &err), "its commit fails");
    ok(err != NULL && strstr(err->message, "replaced or removed") != NULL, "saying why (%s)",
       err != NULL ? err->message : "none");
    g_clear_error(&err);
    smg_bayes_learner_free(l);
    smg_bayes_tokens_free(tok);
    counts_of(path, "meeting", c);
    ok(c[0] == 0 && c[1] == 1 && c[2] == 1, "the file put there stays");
    g_free(path);
}

int
main(void)
{
    plan_lazy();
    top = test_tmpdir();
    test_tokens();
    test_html_tags();
    test_chi2();
    test_learn_classify();
    test_concurrency();
    test_rewritten_in_place();
    test_corrupt();
    test_dead_tmp();
    test_learned_once();
    test_moved();
    test_old_format();
    test_replaced();
    test_tmpdir_free(top);
    return 0;
}
