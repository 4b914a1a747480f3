#!/usr/bin/env bash
# One IM organisation on loopback, to try (issue 11): a router and two home servers
# (rvp-server), the users in OpenLDAP (slapd, the rvpUser schema of contrib/ldap), and
# dnsmasq answering the _rvp._tcp SRV and A records — all in a private network and mount
# namespace of their own, torn down on Ctrl-C or exit. See README.md beside this file.
#
#   contrib/organisation/run.sh                 # up until Ctrl-C
#   contrib/organisation/run.sh --for 60        # up for 60 seconds
#   contrib/organisation/run.sh -- CMD [ARG...] # up, run CMD inside, down; CMD's status
#   contrib/organisation/run.sh enter [CMD...]  # from another terminal: a shell (or CMD)
#                                               # inside the running organisation
#
# Environment: RVP_SERVER (an rvp-server binary built with the `ldap` feature; default:
# built here with cargo), RVP_ORG_DIR (where its files go; default: a fresh temporary
# folder, removed at the end).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PIDFILE="${TMPDIR:-/tmp}/rvp-organisation.pid"

# The organisation. Sign-in names are alias@corp.test; librvp asks _rvp._tcp.corp.test and
# names the users after the SRV target, so the servers' IM domain is im.corp.test.
MAIL_DOMAIN=corp.test
IM_DOMAIN=im.corp.test
ROUTER_IP=127.0.4.1
LDAP_IP=127.0.4.2
HOME1=home1.corp.test
HOME1_IP=127.0.4.11
HOME2=home2.corp.test
HOME2_IP=127.0.4.12
DNS_IP=127.0.0.53
SUFFIX="dc=corp,dc=test"
PEOPLE="ou=people,$SUFFIX"
SERVICE_DN="cn=rvp-server,$SUFFIX"
SERVICE_PW="rvp-server-secret"
ROOT_DN="cn=admin,$SUFFIX"
ROOT_PW="admin-secret"
# alias home: alice and bob on home1, carol and dave on home2; password <alias>-demo.
USERS="alice:$HOME1 bob:$HOME1 carol:$HOME2 dave:$HOME2"

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

find_program() {
    local p
    for p in "$(command -v "$1" 2>/dev/null || true)" "/usr/sbin/$1" "/sbin/$1"; do
        if [ -n "$p" ] && [ -x "$p" ]; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# `enter`: join the namespaces of the organisation running from another terminal.
if [ "${1:-}" = "enter" ]; then
    shift
    [ -r "$PIDFILE" ] || die "no organisation is running (no $PIDFILE)"
    pid="$(cat "$PIDFILE")"
    kill -0 "$pid" 2>/dev/null || die "the organisation (pid $pid) is not running"
    args=(--target "$pid" --net --mount)
    # Started as an ordinary user: its namespaces belong to a user namespace.
    if [ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ]; then
        args+=(--user --preserve-credentials)
    fi
    if [ $# -eq 0 ]; then
        set -- "${SHELL:-/bin/bash}"
    fi
    exec nsenter "${args[@]}" -- "$@"
fi

# ---------------------------------------------------------------------------------------
# Outside: check the tools, build the server if needed, re-run inside new namespaces.
if [ -z "${RVP_ORG_INSIDE:-}" ]; then
    missing=""
    for p in slapd slapadd dnsmasq unshare ip; do
        find_program "$p" >/dev/null || missing="$missing $p"
    done
    [ -z "$missing" ] || die "not installed:$missing (Debian: apt-get install slapd \
ldap-utils dnsmasq-base iproute2 util-linux; see contrib/organisation/README.md)"
    [ -r /etc/ldap/schema/inetorgperson.schema ] || die "no /etc/ldap/schema (apt-get install slapd)"
    if [ -z "${RVP_SERVER:-}" ]; then
        say "building rvp-server with the ldap feature (cargo build -p rvp-server --features ldap)..."
        (cd "$REPO" && cargo build --quiet -p rvp-server --features ldap)
        RVP_SERVER="$REPO/target/debug/rvp-server"
    fi
    [ -x "$RVP_SERVER" ] || die "RVP_SERVER=$RVP_SERVER is not an executable"
    export RVP_SERVER RVP_ORG_INSIDE=1
    if [ "$(id -u)" = 0 ]; then
        exec unshare --net --mount --propagation private -- bash "$0" "$@"
    fi
    # An ordinary user: a user namespace maps it to root there (port 80, a private
    # /etc/resolv.conf), nothing outside changes.
    exec unshare --user --map-root-user --net --mount --propagation private -- bash "$0" "$@"
fi

# ---------------------------------------------------------------------------------------
# Inside the namespaces.
FOR=""
COMMAND=()
while [ $# -gt 0 ]; do
    case "$1" in
        --for) FOR="${2:?--for needs a number of seconds}"; shift 2 ;;
        --) shift; COMMAND=("$@"); break ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

if [ -n "${RVP_ORG_DIR:-}" ]; then
    DIR="$RVP_ORG_DIR"
    KEEP_DIR=1
    mkdir -p "$DIR"
else
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/rvp-organisation.XXXXXX")"
    KEEP_DIR=""
fi
PIDS=()

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -f "$PIDFILE"
    if [ -z "$KEEP_DIR" ]; then
        rm -rf "$DIR"
    fi
    say "organisation stopped."
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip link set lo up

# Waits (at most 10 s) until something accepts connections on $1:$2, or $3 (a pid) exits.
wait_for() {
    local i
    for i in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then
            return 0
        fi
        kill -0 "$3" 2>/dev/null || die "$4 exited at start-up; see $DIR/$4.log"
        sleep 0.05
    done
    die "$4 does not accept connections on $1:$2; see $DIR/$4.log"
}

# DNS: dnsmasq with exactly these records (staying the user it was started as: `--user=
# --group=`, which a user namespace requires), and /etc/resolv.conf pointing at it (a bind
# mount, seen only in this mount namespace).
dnsmasq_bin="$(find_program dnsmasq)"
"$dnsmasq_bin" --keep-in-foreground --no-resolv --no-hosts --no-poll --conf-file=/dev/null \
    --pid-file --bind-interfaces --port=53 --listen-address="$DNS_IP" --user= --group= \
    --log-queries --log-facility="$DIR/dnsmasq.queries" \
    --srv-host="_rvp._tcp.$MAIL_DOMAIN,$IM_DOMAIN,80,0,0" \
    --host-record="$IM_DOMAIN,$ROUTER_IP" \
    --host-record="$HOME1,$HOME1_IP" \
    --host-record="$HOME2,$HOME2_IP" \
    --host-record="ldap.$MAIL_DOMAIN,$LDAP_IP" \
    2>"$DIR/dnsmasq.log" &
PIDS+=($!)
wait_for "$DNS_IP" 53 "${PIDS[-1]}" dnsmasq
printf 'nameserver %s\n' "$DNS_IP" >"$DIR/resolv.conf"
mount --bind "$DIR/resolv.conf" /etc/resolv.conf

# The directory: slapd with the rvpUser schema of contrib/ldap, the users loaded with slapadd.
ha1() { printf '%s' "$1:$IM_DOMAIN:$2" | md5sum | cut -d' ' -f1; }
modules=""
if [ -e /usr/lib/ldap/back_mdb.so ] || [ -e /usr/lib/ldap/back_mdb.la ]; then
    modules=$'modulepath /usr/lib/ldap\nmoduleload back_mdb'
fi
mkdir -p "$DIR/ldap/db"
cat >"$DIR/ldap/slapd.conf" <<EOF
$modules
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $REPO/contrib/ldap/rvp.schema
pidfile $DIR/ldap/slapd.pid
argsfile $DIR/ldap/slapd.args
database mdb
maxsize 10485760
suffix "$SUFFIX"
rootdn "$ROOT_DN"
rootpw $ROOT_PW
directory $DIR/ldap/db
access to attrs=userPassword,rvpDigestHA1
    by dn.exact="$SERVICE_DN" read
    by anonymous auth
    by * none
access to * by * read
EOF
{
    printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Corp\ndc: corp\n\n' "$SUFFIX"
    printf 'dn: %s\nobjectClass: person\ncn: rvp-server\nsn: service\nuserPassword: %s\n\n' \
        "$SERVICE_DN" "$SERVICE_PW"
    printf 'dn: %s\nobjectClass: organizationalUnit\nou: people\n\n' "$PEOPLE"
    for u in $USERS; do
        alias="${u%%:*}"
        home="${u#*:}"
        name="$(printf '%s' "${alias:0:1}" | tr a-z A-Z)${alias:1}"
        printf 'dn: uid=%s,%s\nobjectClass: inetOrgPerson\nobjectClass: rvpUser\n' "$alias" "$PEOPLE"
        printf 'uid: %s\ncn: %s\nsn: %s\ndisplayName: %s\nmail: %s@%s\n' \
            "$alias" "$name" "$name" "$name" "$alias" "$MAIL_DOMAIN"
        printf 'rvpIMAddress: %s@%s\nrvpIMEnabled: TRUE\nrvpIMHomeServer: %s\n' \
            "$alias" "$IM_DOMAIN" "$home"
        printf 'rvpDigestHA1: %s\n\n' "$(ha1 "$alias" "$alias-demo")"
    done
} >"$DIR/ldap/users.ldif"
"$(find_program slapadd)" -f "$DIR/ldap/slapd.conf" -b "$SUFFIX" -l "$DIR/ldap/users.ldif" \
    >"$DIR/slapadd.log" 2>&1 || die "slapadd failed: $(cat "$DIR/slapadd.log")"
"$(find_program slapd)" -f "$DIR/ldap/slapd.conf" -h "ldap://$LDAP_IP:389/" -d 0 \
    </dev/null >/dev/null 2>"$DIR/slapd.log" &
PIDS+=($!)
wait_for "$LDAP_IP" 389 "${PIDS[-1]}" slapd
printf '%s\n' "$SERVICE_PW" >"$DIR/ldap/bind.secret"

# The servers: one configuration each, the directory shared.
server_config() { # name role host_name ip
    cat <<EOF
[server]
role = "$2"
domain = "$IM_DOMAIN"
host_name = "$3"
listen = ["$4:80"]
storage = "$DIR/$1/store.redb"

[directory]
backend = "ldap"
cache_ttl = "30s"
cache_negative_ttl = "10s"

[directory.ldap]
url = "ldap://$LDAP_IP:389"
bind_dn = "$SERVICE_DN"
bind_password_file = "$DIR/ldap/bind.secret"
base_dn = "$PEOPLE"

[router.homes]
"$HOME1" = "$HOME1_IP:80"
"$HOME2" = "$HOME2_IP:80"

[resolve]
nameserver = "$DNS_IP:53"
allow_loopback = true

[log]
protocol_log = "$DIR/$1/protocol.log"
EOF
}
start_server() { # name role host_name ip
    mkdir -p "$DIR/$1"
    server_config "$@" >"$DIR/$1/server.toml"
    RUST_LOG="${RUST_LOG:-info}" "$RVP_SERVER" --config "$DIR/$1/server.toml" \
        </dev/null >"$DIR/$1.log" 2>&1 &
    PIDS+=($!)
    wait_for "$4" 80 "${PIDS[-1]}" "$1"
}
start_server home1 home "$HOME1" "$HOME1_IP"
start_server home2 home "$HOME2" "$HOME2_IP"
start_server router router "$IM_DOMAIN" "$ROUTER_IP"
printf '%s\n' "$$" >"$PIDFILE"

cat <<EOF

The organisation $MAIL_DOMAIN is up (files in $DIR):

  router      $IM_DOMAIN   $ROUTER_IP:80   _rvp._tcp.$MAIL_DOMAIN SRV -> $IM_DOMAIN:80
  home server $HOME1  $HOME1_IP:80  alice, bob
  home server $HOME2  $HOME2_IP:80  carol, dave
  slapd       ldap://$LDAP_IP:389  $PEOPLE (rvpUser), bound as $SERVICE_DN
  dnsmasq     $DNS_IP:53  (the namespace's /etc/resolv.conf)

Users: alice, bob, carol, dave @$MAIL_DOMAIN; password <alias>-demo (e.g. alice-demo).
Everything runs in a private network namespace: clients run inside it. From another
terminal:

  $HERE/run.sh enter      # a shell inside; or put the command after 'enter'

  # the watch example (rvp-client): carol watches alice and bob, through the router's 302
  cargo run --example watch -- --server $ROUTER_IP:80 --user carol@$IM_DOMAIN \\
      --password carol-demo --watch alice@$IM_DOMAIN,bob@$IM_DOMAIN
  # the chat example: alice signs on (home1) and changes her state: /state busy
  cargo run --example chat -- --server $ROUTER_IP:80 --user alice@$IM_DOMAIN --password alice-demo

  # Pidgin with librvp (pidgin-librvp): an RVP account alice@$MAIL_DOMAIN, password
  # alice-demo; librvp finds the router by the SRV record and follows its 302.
  pidgin

Users are read from slapd per request: add one with ldapadd -x -H ldap://$LDAP_IP -D
"$ROOT_DN" -w $ROOT_PW, disable one (rvpIMEnabled: FALSE) and it is refused within
cache_ttl (30 s here). Logs: $DIR/*.log, protocol logs in $DIR/*/protocol.log.
EOF
if [ ${#COMMAND[@]} -gt 0 ]; then
    say "running: ${COMMAND[*]}"
    set +e
    "${COMMAND[@]}"
    status=$?
    set -e
    exit "$status"
fi
say "Ctrl-C stops it."
# The sleep is waited for (a trapped signal interrupts `wait`) and stopped with the rest.
if [ -n "$FOR" ]; then
    sleep "$FOR" &
    PIDS+=($!)
    wait "${PIDS[-1]}"
else
    while :; do
        sleep 3600 &
        PIDS+=($!)
        wait "${PIDS[-1]}"
    done
fi
