# peers.sh - receiving MTAs for the smg-send tests (sourced after tap.sh).
#
# All peers listen on the same port, PEER_PORT, each on its own loopback
# address 127.0.0.x (Linux routes all of 127/8 to lo), so that DNS can
# send each recipient domain to its own peer while [send] port stays one
# number.  Every peer is stopped when the test exits.
#
# peer_port              choose PEER_PORT (exported) if not chosen yet
# start_mta NAME ADDR [tls CERTNAME]
#                        python3-aiosmtpd on ADDR:PEER_PORT storing into
#                        $T/peers/NAME (t/lib/peers.py mta), with STARTTLS
#                        using $T/certs/CERTNAME.{pem,key} when asked
# start_script NAME ADDR [MODE [SIZE [CERTNAME]]]
#                        the scripted fault peer (t/lib/peers.py script),
#                        announcing SIZE (default 10240000), with STARTTLS
#                        using $T/certs/CERTNAME.{pem,key} when given
# start_sink NAME ADDR   Postfix's smtp-sink dumping each message to
#                        $T/peers/NAME/ (X-Client-Addr: shows the client)
# received NAME          number of messages NAME has stored
# make_ca                a test CA: $T/certs/ca.pem
# make_cert NAME HOST... a server certificate for the HOSTs signed by the
#                        test CA: $T/certs/NAME.pem, NAME.key
# make_selfsigned NAME HOST  a self-signed certificate (DANE-EE tests)
# tlsa_of NAME           "3 1 1 <sha256 of the public key>" of NAME's cert
#
# SPDX-License-Identifier: MIT

PEERS_PY="$srcdir/t/lib/peers.py"
PEERS_DIR="$T/peers"
mkdir -p "$PEERS_DIR" "$T/certs"
# smtp-sink drops to nobody: it must reach its dump folder
chmod 711 "$PEERS_DIR"

peer_port() {
    [ -n "${PEER_PORT:-}" ] && return 0
    PEER_PORT=$(free_port)
    export PEER_PORT
}

# peer_wait NAME PID - wait for the ready file of a peer
peer_wait() {
    i=0
    while [ ! -s "$PEERS_DIR/$1.ready" ]; do
        if ! kill -0 "$2" 2>/dev/null || [ $i -ge 100 ]; then
            diag "peer $1 did not start:" "$(cat "$PEERS_DIR/$1.log" 2>/dev/null)"
            bail "peer $1 did not start"
        fi
        sleep 0.1
        i=$((i + 1))
    done
}

start_mta() {
    name=$1 addr=$2 tls=${3:-} cert=${4:-}
    peer_port
    set -- mta --addr "$addr" --port "$PEER_PORT" --out "$PEERS_DIR/$name" \
        --ready "$PEERS_DIR/$name.ready"
    if [ "$tls" = tls ]; then
        set -- "$@" --tls "$T/certs/$cert.pem" "$T/certs/$cert.key"
    fi
    $PY3 "$PEERS_PY" "$@" >"$PEERS_DIR/$name.log" 2>&1 &
    pid=$!
    at_exit "kill $pid"
    peer_wait "$name" "$pid"
}

start_script() {
    name=$1 addr=$2
    peer_port
    $PY3 "$PEERS_PY" script --addr "$addr" --port "$PEER_PORT" \
        --out "$PEERS_DIR/$name" --mode "${3:-normal}" --size "${4:-10240000}" \
        ${5:+--tls "$T/certs/$5.pem" "$T/certs/$5.key"} \
        --ready "$PEERS_DIR/$name.ready" >"$PEERS_DIR/$name.log" 2>&1 &
    pid=$!
    at_exit "kill $pid"
    peer_wait "$name" "$pid"
}

start_sink() {
    name=$1 addr=$2
    peer_port
    mkdir -p "$PEERS_DIR/$name"
    chmod 777 "$PEERS_DIR/$name"
    sink=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
    [ -x "$sink" ] || bail "smtp-sink (postfix) is not installed"
    "$sink" -u nobody -d "$PEERS_DIR/$name/%H%M%S." -h sink.test \
        "$addr:$PEER_PORT" 64 >"$PEERS_DIR/$name.log" 2>&1 &
    pid=$!
    at_exit "kill $pid"
    wait_port "$PEER_PORT" "$addr" || bail "smtp-sink did not start: $(cat "$PEERS_DIR/$name.log")"
}

received() {
    find "$PEERS_DIR/$1" -maxdepth 1 -type f ! -name '*.log' ! -name '.*' 2>/dev/null \
        | wc -l | tr -d ' '
}

make_ca() {
    [ -s "$T/certs/ca.pem" ] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=smg test CA" \
        -keyout "$T/certs/ca.key" -out "$T/certs/ca.pem" >/dev/null 2>&1 \
        || bail "openssl cannot make the test CA"
}

make_cert() {
    name=$1
    shift
    make_ca
    san=""
    for h in "$@"; do
        case $h in # an address (IPv6, or digits and dots) is an IP name
        *:*) t=IP ;;
        *[!0-9.]*) t=DNS ;;
        *) t=IP ;;
        esac
        san="${san:+$san,}$t:$h"
    done
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" \
        -keyout "$T/certs/$name.key" -out "$T/certs/$name.csr" >/dev/null 2>&1 \
        || bail "openssl cannot make a key for $name"
    printf 'subjectAltName=%s\n' "$san" >"$T/certs/$name.ext"
    openssl x509 -req -in "$T/certs/$name.csr" -CA "$T/certs/ca.pem" \
        -CAkey "$T/certs/ca.key" -CAcreateserial -days 2 \
        -extfile "$T/certs/$name.ext" -out "$T/certs/$name.pem" >/dev/null 2>&1 \
        || bail "openssl cannot sign the certificate of $name"
}

make_selfsigned() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
        -addext "subjectAltName=DNS:$2" \
        -keyout "$T/certs/$1.key" -out "$T/certs/$1.pem" >/dev/null 2>&1 \
        || bail "openssl cannot make a certificate for $1"
}

tlsa_of() {
    h=$(openssl x509 -in "$T/certs/$1.pem" -noout -pubkey \
        | openssl pkey -pubin -outform DER 2>/dev/null \
        | openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n')
    echo "3 1 1 $h"
}
