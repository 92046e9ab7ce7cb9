#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_socks5: the socks5 handler against real SOCKS5 servers in the server
# namespace: Debian's dante-server (danted: UDP ASSOCIATE, username method
# checked against a system user this test creates and removes) and
# microsocks (CONNECT only).
#  - dante, no auth (socks5://198.18.0.2:1080): 20 MiB each way, sha256
#    checked, IPv4 and IPv6 destinations; 50 concurrent flows each verified
#    (v4 and v6); a closed destination port -> ECONNREFUSED; dante's own
#    connect errors become the client's: an unreachable route (REP 4) ->
#    EHOSTUNREACH, no route (REP 3) -> ENETUNREACH, a prohibit route (dante
#    says REP 1, general failure) -> ICMP prohibited, so EHOSTUNREACH, a
#    destination that never answers (REP 6 after dante's timeout.connect)
#    -> no answer at all; UDP round trips
#    (udptool, v4 and v6 destinations) through UDP ASSOCIATE; the same over
#    the proxy's IPv6 address (socks5://[fd00:18::2]:1080)
#  - dante, username/password (socks5://USER:PASS@198.18.0.2:1082): transfers,
#    concurrent flows and UDP; a wrong password -> the client's connect()
#    fails (RST) in under 2 s and tunplug's log says "authentication failed"
#  - microsocks without and with -u/-P: transfers, 50 concurrent flows (echo
#    checked step by step: microsocks closes both ways on the first EOF, so
#    the half-closing hashserver check cannot be used), wrong password
#  - a scripted proxy (socks5fake.py): BND ATYP domain / IPv6 / IPv4 with
#    payload in the reply's own segment, a reply dribbled byte by byte, and
#    REP 1..6 each mapped to its client errno (3 ENETUNREACH, 4 EHOSTUNREACH,
#    5 ECONNREFUSED, 6 no answer, 1 and 2 ICMP prohibited: EHOSTUNREACH, over
#    IPv6 EACCES) and refusal counter; the proxy's port closed ->
#    ECONNREFUSED at once, the proxy silent -> no answer (the held SYN is
#    dropped after --connect-timeout, the client times out on its own)
#  - rules: --handler direct --rule dst=198.19.1.0/24,handler=socks5://...
#    sends only that subnet through the proxy (dante's connect log counts)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DANTED=${DANTED:-/usr/sbin/danted}
tp_require_root socat sha256sum microsocks useradd userdel chpasswd
[[ -x $DANTED ]] || fail "missing $DANTED (Debian: apt-get install -y dante-server microsocks)"
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
tp_topo_up

# a system user for dante's username method, removed on exit
S5_USER=tps5$$
S5_PASS="pw-$RANDOM-$RANDOM"
S5_USER_MADE=0
s5_cleanup() {
  local rc=$?
  set +e # (exit rc) below must not end the trap under errexit
  [[ $S5_USER_MADE == 1 ]] && userdel "$S5_USER" 2>/dev/null
  (exit "$rc")
  tp_cleanup
}
trap s5_cleanup EXIT
useradd --system --no-create-home --shell /usr/sbin/nologin "$S5_USER" ||
  fail "useradd $S5_USER failed"
S5_USER_MADE=1
echo "$S5_USER:$S5_PASS" | chpasswd || fail "chpasswd failed"
log "system user $S5_USER created for dante's username method"

UDPTOOL=$TP_E2E_DIR/udptool.py
HPORT=7500 # hashserver
UPORT=7501 # udp echo
EPORT=7502 # tcp echo (for microsocks, which cannot half-close)
TP_DST4B=198.19.2.1 # outside the rule's subnet
ip -n "$NS_S" addr add "$TP_DST4B/32" dev lo
# destinations dante cannot reach, each in its own way: an unreachable and a
# prohibit route, no route at all (198.19.5.0/24), and a next hop that never
# answers (198.19.6.0/24 via a neighbour entry nobody owns)
ip -n "$NS_S" route add unreachable 198.19.8.0/24
ip -n "$NS_S" -6 route add unreachable fd00:19::8:0/112
ip -n "$NS_S" route add prohibit 198.19.7.0/24
ip -n "$NS_S" neigh replace 198.18.0.77 lladdr 02:00:00:00:00:77 dev tps0 nud permanent
ip -n "$NS_S" route add 198.19.6.0/24 via 198.18.0.77 dev tps0

# dante_conf FILE PORT METHOD LOG: an instance on $TP_S4 and $TP_S6, going out over tps0
dante_conf() {
  cat >"$1" <<EOF
logoutput: $4
internal: $TP_S4 port = $2
internal: $TP_S6 port = $2
external: tps0
socksmethod: $3
clientmethod: none
user.privileged: root
user.unprivileged: nobody
timeout.negotiate: 10
timeout.connect: 2
timeout.io: 120
client pass {
  from: 0/0 to: 0/0
  log: error
}
socks pass {
  from: 0/0 to: 0/0
  command: connect udpassociate bindreply udpreply
  log: error connect
}
EOF
}
dante_conf "$TP_TMP/dante-none.conf" 1080 none "$TP_TMP/dante-none.out"
dante_conf "$TP_TMP/dante-user.conf" 1082 username "$TP_TMP/dante-user.out"
nss "$DANTED" -V -f "$TP_TMP/dante-none.conf" >"$TP_TMP/dante-check.log" 2>&1 ||
  fail "danted rejects the config: $(tail -n 5 "$TP_TMP/dante-check.log" | tr '\n' '|')"
tp_bg dante-none "$NS_S" "$DANTED" -f "$TP_TMP/dante-none.conf" -N 2
tp_bg dante-user "$NS_S" "$DANTED" -f "$TP_TMP/dante-user.conf" -N 2
tp_bg microsocks "$NS_S" microsocks -i "$TP_S4" -p 1081
tp_bg microsocks-auth "$NS_S" microsocks -i "$TP_S4" -p 1083 -u "$S5_USER" -P "$S5_PASS"
tp_bg hashserver "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --host "$TP_DST6" \
  --host "$TP_DST4B" --port "$HPORT" --timeout 600
tp_bg echoserver "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --host "$TP_DST6" \
  --port "$EPORT" --timeout 600
tp_bg udpecho "$NS_S" "$PYTHON" "$UDPTOOL" server --host "$TP_DST4" --host "$TP_DST6" \
  --port "$UPORT" --timeout 600
tp_wait_listen "$NS_S" 1080 10 2
tp_wait_listen "$NS_S" 1082 10 2
tp_wait_listen "$NS_S" 1081
tp_wait_listen "$NS_S" 1083
tp_wait_listen "$NS_S" "$HPORT" 5 3
tp_wait_listen "$NS_S" "$EPORT" 5 2
log "dante (1080 none, 1082 username) and microsocks (1081, 1083 with -u/-P) listening"

XFER_MIB=${TP_SOCKS_MIB:-20}
XFER_TIMEOUT=60
tp_mkfile "$TP_TMP/xfer.bin" "$XFER_MIB"
WANT=$(sha_of "$TP_TMP/xfer.bin")
XPORT=5100 # next port for a transfer server

# upload / download LABEL FAM ADDR: the transfer file, a new port each (lib.sh: tp_xfer)
upload() { local port=$((XPORT++)); tp_xfer up "$2" "$3" "$port" "$TP_TMP/xfer.bin" "$1: upload $XFER_MIB MiB to $3"; }

download() { local port=$((XPORT++)); tp_xfer down "$2" "$3" "$port" "$TP_TMP/xfer.bin" "$1: download $XFER_MIB MiB from $3"; }

# concurrent LABEL HOST N: N flows at once through the gateway, each verified
concurrent() {
  local out
  out=$(nsc timeout 60 "$PYTHON" "$TP_TOOL" concurrent --host "$2" --port "$HPORT" -n "$3" \
    --size 65536 --timeout 40) || fail "$1: $3 concurrent flows to $2: $out"
  ok "$1: $3 concurrent flows to $2, each verified: $out"
}

# echo_concurrent LABEL HOST N: N flows at once to the echo server, each
# sends 64 KiB in 8 KiB steps and checks every echoed step; no half-close
# (microsocks tears the whole connection down on the first EOF)
echo_concurrent() {
  local out
  out=$(nsc timeout 60 "$PYTHON" - "$2" "$EPORT" "$3" <<'PYEOF'
import hashlib, json, socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
barrier = threading.Barrier(n)
res = [None] * n
def one(i):
    try:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect((host, port))
        barrier.wait(30)
        seed = hashlib.sha256(b"s5-%d" % i).digest()
        for step in range(8):
            chunk = (seed * 256)[:8192]
            seed = hashlib.sha256(seed).digest()
            s.sendall(chunk)
            got = b""
            while len(got) < len(chunk):
                d = s.recv(len(chunk) - len(got))
                if not d:
                    raise OSError("EOF after %d bytes of step %d" % (len(got), step))
                got += d
            if got != chunk:
                raise OSError("step %d differs" % step)
        s.close()
        res[i] = "ok"
    except Exception as e:
        res[i] = "%s" % e
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join(40)
good = sum(1 for r in res if r == "ok")
errs = {}
for r in res:
    if r != "ok": errs[str(r)] = errs.get(str(r), 0) + 1
print(json.dumps({"client": "echo_concurrent", "n": n, "ok": good, "errors": errs}))
sys.exit(0 if good == n else 1)
PYEOF
) || fail "$1: $3 concurrent echo flows to $2: $out"
  ok "$1: $3 concurrent flows to $2, 64 KiB echoed and verified each: $out"
}

# refused LABEL HOST: a closed destination port -> ECONNREFUSED within 2 s
refused() {
  local out
  out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host "$2" --port 9 --expect refused \
    --max 2 --timeout 8) || fail "$1: closed port $2:9: want ECONNREFUSED within 2 s: $out"
  ok "$1: closed port $2:9: $out"
}

# want_errno LABEL HOST ERRNO [MAX]: connect() to HOST:80 fails with ERRNO (or
# "timeout": no answer within 5 s) within MAX s
want_errno() {
  local out max=${4:-2} t=8
  [[ $3 == timeout ]] && t=5 max=10
  out=$(nsc timeout 20 "$PYTHON" "$TP_TOOL" connect --host "$2" --port 80 --expect "$3" \
    --max "$max" --timeout "$t") || fail "$1: $2:80: want $3: $out"
  ok "$1: $2:80: $out"
}

# udp LABEL HOST: UDP round trips through the proxy's UDP relay
udp() {
  local out
  out=$(nsc timeout 60 "$PYTHON" "$UDPTOOL" client --host "$2" --port "$UPORT" --flows 20 \
    --size 1000 --window 20 --timeout 30) || fail "$1: UDP to $2: $out"
  ok "$1: 20 UDP flows to $2 round-trip intact: $out"
}

# badauth LABEL: with a wrong password the client's connect() fails fast
badauth() {
  local out res
  out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host "$TP_DST4" --port "$HPORT" \
    --expect error --max 2 --timeout 8) || fail "$1: wrong password: want an error within 2 s: $out"
  res=$(sed -E 's/.*"result": "([A-Z]+|connected)".*/\1/' <<<"$out")
  [[ $res == ECONNREFUSED || $res == ECONNRESET || $out == *'"after_connect": "ECONNRESET"'* ]] ||
    fail "$1: wrong password: want ECONNREFUSED/ECONNRESET, got: $out"
  ok "$1: wrong password: connect() fails: $out"
  for ((i = 0; i < 20; i++)); do
    grep -q "authentication failed" "$TP_GW_LOG" && break
    sleep 0.05
  done
  grep -q "socks5 proxy .*: authentication failed" "$TP_GW_LOG" ||
    fail "$1: tunplug's log does not say why: $(tail -n 5 "$TP_GW_LOG" | tr '\n' '|')"
  ok "$1: tunplug logged: $(grep -m1 "authentication failed" "$TP_GW_LOG")"
}

# ---- dante, no authentication
tp_gw_start --handler "socks5://$TP_S4:1080"
upload "dante" 4 "$TP_DST4"
download "dante" 4 "$TP_DST4"
upload "dante" 6 "[$TP_DST6]"
download "dante" 6 "[$TP_DST6]"
concurrent "dante" "$TP_DST4" 50
concurrent "dante" "$TP_DST6" 50
refused "dante" "$TP_DST4"
refused "dante" "$TP_DST6"
want_errno "dante, unreachable route (REP 4)" 198.19.8.8 EHOSTUNREACH
want_errno "dante, unreachable route (REP 4)" fd00:19::8:8 EHOSTUNREACH
want_errno "dante, no route (REP 3)" 198.19.5.5 ENETUNREACH
want_errno "dante, prohibit route (REP 1: prohibited)" 198.19.7.7 EHOSTUNREACH
want_errno "dante, silent next hop (REP 6 after 2 s: silence)" 198.19.6.6 timeout
for want in "198.19.8.8.80.*No route to host" "198.19.5.5.80.*Network is unreachable" \
  "198.19.7.7.80.*Permission denied"; do
  grep -q "$want" "$TP_TMP/dante-none.out" || fail "dante did not log a failed connect to '$want'"
done
for want in "198.19.8.8:80: host unreachable (reply 4)" "198.19.5.5:80: network unreachable (reply 3)" \
  "198.19.7.7:80: general SOCKS server failure (reply 1)" "198.19.6.6:80: TTL expired (reply 6)"; do
  grep -qF "$want" "$TP_GW_LOG" || fail "tunplug did not log '$want'"
done
ok "dante's replies (4, 3, 1, 6) for its failed connects are in both logs"
udp "dante" "$TP_DST4"
udp "dante" "$TP_DST6"
tp_gw_check_alive
tp_gw_stop_ok

# ---- dante over the proxy's IPv6 address
tp_gw_start --handler "socks5://[$TP_S6]:1080"
concurrent "dante via [$TP_S6]" "$TP_DST4" 50
concurrent "dante via [$TP_S6]" "$TP_DST6" 50
udp "dante via [$TP_S6]" "$TP_DST4"
udp "dante via [$TP_S6]" "$TP_DST6"
tp_gw_check_alive
tp_gw_stop_ok

# ---- dante, username/password
tp_gw_start --handler "socks5://$S5_USER:$S5_PASS@$TP_S4:1082"
# (the gateway's own "ready" line and summary print the spec as written)
grep "socks5" "$TP_GW_LOG" | grep -v "ready tun=" | grep -q "$S5_PASS" &&
  fail "the socks5 handler logged the password"
upload "dante+auth" 4 "$TP_DST4"
download "dante+auth" 6 "[$TP_DST6]"
concurrent "dante+auth" "$TP_DST4" 50
udp "dante+auth" "$TP_DST4"
udp "dante+auth" "$TP_DST6"
tp_gw_check_alive
tp_gw_stop_ok
tp_gw_start --handler "socks5://$S5_USER:wrong-$S5_PASS@$TP_S4:1082"
badauth "dante+auth"
tp_gw_check_alive
tp_gw_stop_ok

# ---- microsocks, without and with authentication
tp_gw_start --handler "socks5://$TP_S4:1081"
upload "microsocks" 4 "$TP_DST4"
download "microsocks" 6 "[$TP_DST6]"
echo_concurrent "microsocks" "$TP_DST4" 50
echo_concurrent "microsocks" "$TP_DST6" 50
refused "microsocks" "$TP_DST4"
# microsocks has no UDP ASSOCIATE: the UDP flow is refused (ICMP) and logged
out=$(nsc timeout 10 "$PYTHON" "$UDPTOOL" refused --host "$TP_DST4" --port "$UPORT" --max 2) || true
for ((i = 0; i < 40; i++)); do
  grep -q "UDP ASSOCIATE for $TP_DST4:$UPORT: command not supported" "$TP_GW_LOG" && break
  sleep 0.05
done
grep -q "UDP ASSOCIATE for $TP_DST4:$UPORT: command not supported" "$TP_GW_LOG" ||
  fail "microsocks: UDP: no 'command not supported' in the log: $(tail -n 3 "$TP_GW_LOG" | tr '\n' '|')"
ok "microsocks: UDP ASSOCIATE not supported: flow refused and logged (client saw: $out)"
tp_gw_check_alive
tp_gw_stop_ok
tp_gw_start --handler "socks5://$S5_USER:$S5_PASS@$TP_S4:1083"
download "microsocks+auth" 4 "$TP_DST4"
echo_concurrent "microsocks+auth" "$TP_DST6" 50
tp_gw_check_alive
tp_gw_stop_ok
tp_gw_start --handler "socks5://$S5_USER:nope@$TP_S4:1083"
badauth "microsocks+auth"
tp_gw_check_alive
tp_gw_stop_ok

# ---- a scripted proxy (socks5fake.py): BND of every ATYP with payload in the
# same segment as the reply, a reply dribbled byte by byte, every REP code
tp_bg socks5fake "$NS_S" "$PYTHON" "$TP_E2E_DIR/socks5fake.py" --host "$TP_S4" --port 1090 \
  --timeout 600
tp_wait_listen "$NS_S" 1090
# banner LABEL HOST PORT: through the gateway, the first bytes are the proxy's
# banner (sent with the reply), then an echo round trip
banner() {
  local out
  out=$(nsc timeout 20 "$PYTHON" - "$2" "$3" <<'PYEOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(10)
s.connect((host, port))
want = b"BANNER %d\n" % port
got = b""
while len(got) < len(want):
    d = s.recv(len(want) - len(got))
    if not d:
        break
    got += d
s.sendall(b"ping %d\n" % port)
echo = b""
while len(echo) < len(b"ping %d\n" % port):
    d = s.recv(64)
    if not d:
        break
    echo += d
s.close()
print("banner %r echo %r" % (got, echo))
sys.exit(0 if got == want and echo == b"ping %d\n" % port else 1)
PYEOF
) || fail "$1: $out"
  ok "$1: $out"
}
TP_LOG_LEVEL=debug tp_gw_start --handler "socks5://$TP_S4:1090"
banner "fake: BND domain, payload in the reply's segment" "$TP_DST4" 7601
banner "fake: BND IPv6, payload in the reply's segment (IPv6 destination)" "$TP_DST6" 7602
banner "fake: reply dribbled one byte at a time" "$TP_DST4" 7603
for c in 7653:3:ENETUNREACH:v4 7654:4:EHOSTUNREACH:v4 7655:5:refused:v4 7656:6:timeout:v4 \
  7657:1:EHOSTUNREACH:v4 7658:2:EHOSTUNREACH:v4 7653:3:ENETUNREACH:v6 7658:2:EACCES:v6; do
  IFS=: read -r port rep want fam <<<"$c"
  host=$TP_DST4 t=8
  [[ $fam == v6 ]] && host=$TP_DST6
  [[ $want == timeout ]] && t=3
  out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host "$host" --port "$port" \
    --expect "$want" --max 2 --timeout "$t") || fail "fake: REP for port $port ($fam): want $want: $out"
  ok "fake: REP $rep ($fam) -> $want: $out"
done
# UDP: relay announced as 0.0.0.0:port, a FRAG=1 copy and a truncated header
# before each echo (udptool counts anything but its own bytes as bad)
udp "fake (relay 0.0.0.0 -> the proxy's address; FRAG=1 and truncated dropped)" "$TP_DST4"
udp "fake (relay 0.0.0.0 -> the proxy's address; FRAG=1 and truncated dropped)" "$TP_DST6"
grep -q "UDP association for $TP_DST4:$UPORT via relay $TP_S4:" "$TP_GW_LOG" ||
  fail "fake: the relay is not the proxy's address: $(grep -m1 "UDP association" "$TP_GW_LOG")"
# the proxy closes the control connection after a datagram to port 7699: the flow ends
out=$(nsc timeout 20 "$PYTHON" "$UDPTOOL" client --host "$TP_DST4" --port 7699 --flows 1 \
  --size 100 --timeout 10) || fail "fake: UDP to port 7699: $out"
for ((i = 0; i < 40; i++)); do
  grep -q "UDP association for $TP_DST4:7699 ended: closed by the proxy" "$TP_GW_LOG" && break
  sleep 0.05
done
grep -q "UDP association for $TP_DST4:7699 ended: closed by the proxy" "$TP_GW_LOG" ||
  fail "fake: the control connection's end did not end the UDP flow"
ok "fake: the proxy closed the control connection -> tunplug ended the UDP flow"
tp_gw_check_alive
tp_gw_stop_ok
line=$(grep "refused by reason" <<<"$TP_GW_SUMMARY")
for want in "connrefused 1" "hostunreach 1" "netunreach 2" "connreset 0" "prohibited 2" "other 1"; do
  grep -q "$want " <<<"$line " || fail "fake: want '$want' in: $line"
done
n=$(grep -oE ' timedout [0-9]+' <<<"$line" | grep -oE '[0-9]+$')
((n >= 2)) || fail "fake: REP 6 answers each retransmitted SYN anew: want timedout >= 2 in: $line"
ok "fake: REP 5/4/3 -> ECONNREFUSED/EHOSTUNREACH/ENETUNREACH, 6 -> silence (a new try per SYN), 1 and 2 -> prohibited: $line"

# ---- the proxy itself is down or silent
tp_gw_start --handler "socks5://$TP_S4:1099" --connect-timeout 1
out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host "$TP_DST4" --port "$HPORT" \
  --expect refused --max 1 --timeout 8) || fail "proxy port closed: want ECONNREFUSED: $out"
ok "proxy port closed: $out"
grep -q "socks5 proxy $TP_S4:1099: connect: connection refused" "$TP_GW_LOG" ||
  fail "proxy port closed: not in the log: $(tail -n 3 "$TP_GW_LOG" | tr '\n' '|')"
tp_gw_stop_ok
tp_gw_start --handler "socks5://198.18.0.99:1080" --connect-timeout 1
out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host "$TP_DST4" --port "$HPORT" \
  --expect timeout --max 5 --timeout 2.5) || fail "proxy silent: want no answer: $out"
ok "proxy silent (no such host), --connect-timeout 1: no answer, the client times out: $out"
grep -q "no answer within 1000 ms" "$TP_GW_LOG" ||
  fail "proxy silent: not in the log: $(tail -n 3 "$TP_GW_LOG" | tr '\n' '|')"
tp_gw_stop_ok

# ---- a rule sends one subnet through the proxy, the rest goes direct
dante_count() { grep -cF "$1.$HPORT" "$TP_TMP/dante-none.out" || true; }
in0=$(dante_count "$TP_DST4")
out0=$(dante_count "$TP_DST4B")
tp_gw_start --handler direct --rule "dst=198.19.1.0/24,handler=socks5://$TP_S4:1080"
concurrent "rule: 198.19.1.0/24 via socks5" "$TP_DST4" 10
concurrent "rule: the rest direct" "$TP_DST4B" 10
tp_gw_check_alive
tp_gw_stop_ok
in1=$(dante_count "$TP_DST4")
out1=$(dante_count "$TP_DST4B")
((in1 - in0 >= 10)) || fail "rule: dante logged $((in1 - in0)) connects to $TP_DST4 (want >= 10)"
((out1 == out0)) || fail "rule: dante logged $((out1 - out0)) connects to $TP_DST4B (want 0)"
ok "rule: dante relayed $((in1 - in0)) connects to $TP_DST4 and none to $TP_DST4B"

echo "e2e_socks5: PASS"
