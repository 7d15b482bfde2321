/*
 * privs.c - drop root privileges to [spool] user (see privs.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/privs.h"

enum smg_status
smg_privs_drop(const struct smg_conf *conf, GError **err)
{
    const char *user = smg_conf_str(conf, "spool", "user");
    struct passwd *pw;

    if (geteuid() != 0)
        return SMG_OK;
    if (user == NULL) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s: refusing to run as root: set [spool] user",
                      smg_conf_path(conf));
        return SMG_CONFIG;
    }
    if (strcmp(user, "root") == 0) {
        smg_log_debug("running as root by [spool] user = root");
        return SMG_OK;
    }
    errno = 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s: [spool] user %s: no such user",
                      smg_conf_path(conf), user);
        return SMG_CONFIG;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0
        || setuid(pw->pw_uid) < 0) {
        smg_set_error(err, SMG_TEMPFAIL, NULL, "cannot become %s: %s", user,
                      g_strerror(errno));
        return SMG_TEMPFAIL;
    }
    if (setuid(0) == 0) {
        smg_set_error(err, SMG_BUG, NULL, "privileges were not dropped");
        return SMG_BUG;
    }
    return SMG_OK;
}
