/*
 * smtpd.h - the ESMTP server session of smg-recv.
 *
 * smg_smtpd_setup reads everything a session needs once per process (TLS
 * context, credentials, rate limits, resolver, spool), before any fork and
 * before privileges are dropped.  smg_smtpd_session then speaks SMTP on a
 * connection until QUIT, a time-out, too many errors or a lost peer.
 *
 * The message is written to spool queue "check" and acknowledged with 250
 * only after smg_spool_commit (fsync of file and folder) succeeded; any
 * failure to store it is answered 451/452 and the file is removed.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_SMTPD_H
#define SMG_SMTPD_H 1

#include <glib.h>

#include "lib/config.h"
#include "lib/status.h"

struct smg_smtpd_env;

/*
 * smg_smtpd_setup - prepare a session environment from conf (which must
 * outlive it): everything that may need root (TLS key, credentials).
 * SMG_CONFIG for unusable TLS files, credentials or rate limit table.
 */
enum smg_status smg_smtpd_setup(const struct smg_conf *conf,
                                struct smg_smtpd_env **out,
                                GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_smtpd_free(struct smg_smtpd_env *env);

/*
 * smg_smtpd_open_spool - open the spool and create queue "check"; call it
 * after dropping privileges, so the folders belong to the right user.
 * SMG_TEMPFAIL with err when the spool cannot be created.
 */
enum smg_status smg_smtpd_open_spool(struct smg_smtpd_env *env,
                                     GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_smtpd_session - serve one SMTP connection on rfd/wfd (not closed);
 * client_addr is the peer's numeric address for logs, headers and the
 * anonymous rate-limit key.  Returns SMG_OK when the session ended
 * normally (QUIT or the client went away), SMG_TEMPFAIL after a time-out
 * or an internal failure.
 */
enum smg_status smg_smtpd_session(struct smg_smtpd_env *env, int rfd, int wfd,
                                  const char *client_addr);

#endif
