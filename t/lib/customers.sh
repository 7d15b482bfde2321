# customers.sh - customers' own MTAs as smarthost clients of the gateway,
# configured from README.md's customer guide (sourced after tap.sh and
# peers.sh, for t/9010-pipeline-customers.t).
#
# The configuration files are the fenced blocks of README.md that follow
# a marker line "<!-- t/9010: NAME -->", with the README's example values
# replaced by the test's (customer_sed): the gateway smtp.gateway.example
# port 25 becomes GW_ADDR port RECV_PORT (its certificate names out.test),
# customer42 / PASSWORD become customer1 / secret1, example.com becomes
# sender.test, the public CA bundle becomes the test CA, and /etc/... the
# instance's own folder.  Only what an installed system provides is added
# around them: the folders of a private instance, and the path of the
# unpacked exim binary.
#
# readme_block NAME          print the block after the marker NAME
# customer_sed ETC           the replacements, ETC standing for /etc/postfix,
#                            /etc/exim4 or /etc/exim (stdin to stdout)
# gateway_cert ADDR          $T/tls/{cert,key}.pem for out.test and ADDR,
#                            signed by the test CA ($T/certs/ca.pem)
# pf_customer NAME MAINCF    a private Postfix instance in $T/NAME (its own
#                            config, queue and data folders) with the lines
#                            of file MAINCF appended to its main.cf and the
#                            README's sasl_passwd; smtpd on 127.0.0.1 at
#                            port PF_PORT (of the last one); started as
#                            root, stopped at exit
# pf_sendmail NAME ARGS...   Postfix's sendmail of that instance
# exim_customer NAME CONF    an Exim spool, log and config in $T/NAME:
#                            CONF becomes $T/NAME/run.conf with the spool
#                            (SPOOLDIR), log and exim_path in front
# exim_send NAME ARGS...     exim -C run.conf -odi ARGS (delivers now)
# EXIM                       the unpacked exim binary (scripts/deps)
#
# SPDX-License-Identifier: MIT

EXIM_ROOT=/opt/smg-exim
EXIM="$EXIM_ROOT/usr/sbin/exim4"
README="$srcdir/README.md"
GW_ADDR=${GW_ADDR:-127.0.0.5}

readme_block() {
    awk -v want="<!-- t/9010: $1 -->" '
        $0 == want { armed = 1; next }
        armed && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }
    ' "$README"
}

customer_sed() {
    sed -e "s|\[smtp\.gateway\.example\]:25|[$GW_ADDR]:$RECV_PORT|g" \
        -e "s|smtp\.gateway\.example::25|$GW_ADDR::$RECV_PORT|g" \
        -e "s|^smtp\.gateway\.example:|$GW_ADDR:|" \
        -e "s|smtp\.gateway\.example|out.test|g" \
        -e "s|/etc/ssl/certs/ca-certificates\.crt|$T/certs/ca.pem|g" \
        -e "s|/etc/postfix|$1|g; s|/etc/exim4|$1|g; s|/etc/exim|$1|g" \
        -e "s|customer42|customer1|g; s|PASSWORD|secret1|g" \
        -e "s|example\.com|sender.test|g"
}

gateway_cert() {
    make_ca
    mkdir -p "$T/tls"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=out.test" \
        -keyout "$T/tls/key.pem" -out "$T/tls/cert.csr" >/dev/null 2>&1 \
        || bail "openssl cannot make the gateway's key"
    printf 'subjectAltName=DNS:out.test,IP:%s\n' "$1" >"$T/tls/cert.ext"
    openssl x509 -req -in "$T/tls/cert.csr" -CA "$T/certs/ca.pem" \
        -CAkey "$T/certs/ca.key" -CAcreateserial -days 2 \
        -extfile "$T/tls/cert.ext" -out "$T/tls/cert.pem" >/dev/null 2>&1 \
        || bail "openssl cannot sign the gateway's certificate"
    chmod 600 "$T/tls/key.pem"
}

pf_customer() {
    name=$1 extra=$2 dir=$T/$1
    command -v postfix >/dev/null || bail "postfix is not installed (scripts/deps)"
    mkdir -p "$dir/etc" "$dir/queue" "$dir/data"
    chmod 755 "$dir" "$dir/etc" "$dir/queue"
    chown postfix "$dir/data"
    port=$(free_port)
    PF_PORT=$port
    # what Debian's postfix package and the customer's own setup provide
    cat >"$dir/etc/main.cf" <<EOF
compatibility_level = 3.6
config_directory = $dir/etc
queue_directory = $dir/queue
data_directory = $dir/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
myhostname = $name.sender.test
mydomain = sender.test
myorigin = \$mydomain
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
biff = no
# from README.md
EOF
    cat "$extra" >>"$dir/etc/main.cf"
    cat >"$dir/etc/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    readme_block "postfix sasl_passwd" | customer_sed "$dir/etc" >"$dir/etc/sasl_passwd"
    chmod 600 "$dir/etc/sasl_passwd"
    postmap -c "$dir/etc" "hash:$dir/etc/sasl_passwd" \
        || bail "postmap of $name's sasl_passwd failed"
    at_exit "postfix -c '$dir/etc' stop"
    postfix -c "$dir/etc" start >"$dir/start.log" 2>&1 \
        || bail "postfix $name did not start: $(cat "$dir/start.log" "$dir/maillog")"
    wait_port "$port" || bail "postfix $name does not listen: $(cat "$dir/maillog")"
}

pf_sendmail() {
    name=$1
    shift
    /usr/sbin/sendmail -C "$T/$name/etc" "$@"
}

exim_customer() {
    name=$1 conf=$2 dir=$T/$1
    [ -x "$EXIM" ] || bail "no exim at $EXIM: run scripts/deps"
    id Debian-exim >/dev/null 2>&1 || bail "no user Debian-exim: run scripts/deps"
    mkdir -p "$dir/etc" "$dir/spool" "$dir/log"
    # Exim runs as Debian-exim too: it reads the config and passwd.client
    chmod 755 "$dir" "$dir/etc"
    # as Debian's exim4-base makes /var/spool/exim4 and /var/log/exim4
    chown Debian-exim:Debian-exim "$dir/spool" "$dir/log"
    {
        echo "SPOOLDIR = $dir/spool" # Debian's template uses the macro
        grep -q '^spool_directory' "$conf" || echo "spool_directory = SPOOLDIR"
        echo "log_file_path = $dir/log/%slog"
        echo "exim_path = $EXIM"
        grep -v '^exim_path = ' "$conf"
    } >"$dir/run.conf"
    chmod 644 "$dir/run.conf"
    "$EXIM" -C "$dir/run.conf" -bV >"$dir/bv.log" 2>&1 \
        || bail "exim rejects the $name config: $(tail -5 "$dir/bv.log")"
}

exim_send() {
    name=$1
    shift
    "$EXIM" -C "$T/$name/run.conf" -odi "$@" 2>>"$T/$name/stderr.log"
}
