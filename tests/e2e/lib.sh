# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# lib.sh - shared helpers for tunplug's end-to-end tests, the demo and the bench.
# Source it from a bash script running with `set -euo pipefail`.
#
# Topology (two namespaces, unique per run unless TP_NS_C/TP_NS_S are set):
#
#  netns $NS_C (clients + tunplug)                    netns $NS_S (servers)
#  clients -> 198.19.0.0/16, fd00:19::/64             lo: 198.19.1.1/32, fd00:19::1/128
#     |  main table: routes into tp0 (added by tunplug)      ^
#     v                                                      |
#  tp0 -> tunplug (direct) -> socket, SO_MARK 0x7 -> tpc0 ===== tps0
#          198.19.255.1/32                 198.18.0.1/24      198.18.0.2/24
#          fd00:19:ffff::1/128             fd00:18::1/64      fd00:18::2/64
#  rule: fwmark 0x7 -> table 100: 198.19.0.0/16 via 198.18.0.2, fd00:19::/64 via fd00:18::2
#
# "kernel-direct" mode (tp_route_kernel) skips tunplug: the main table of
# $NS_C routes the server prefixes straight over the veth.

TP_E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this file
TP_TOOL=$TP_E2E_DIR/tptool.py
PYTHON=${PYTHON:-python3}
TP_TEST=${TP_TEST:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}

TP_C4=198.18.0.1
TP_S4=198.18.0.2
TP_C6=fd00:18::1
TP_S6=fd00:18::2
TP_DST4=198.19.1.1
TP_DST6=fd00:19::1
TP_NET4=198.19.0.0/16
TP_NET6=fd00:19::/64
TP_TUN=tp0
TP_MARK=0x7
TP_TABLE=100
# shellcheck disable=SC2034  # used by the scripts that source this file
TP_GW_BASE_ARGS=(--tun-name "$TP_TUN" --address 198.19.255.1/32 --address fd00:19:ffff::1/128
  --route "$TP_NET4" --route "$TP_NET6" --fwmark "$TP_MARK")

NS_C=""
NS_S=""
TP_TMP=""
TP_PIDS=()        # background processes started by us (servers, clients)
TP_GW_PID=""      # the running tunplug
TP_GW_LOG=""
TP_GW_RC=""       # exit status of the last tunplug stopped by tp_gw_stop
TP_GW_SUMMARY=""  # what it printed on stderr after the stop signal
TP_NETNS_ETC=()   # /etc/netns/NS directories written by tp_netns_file

log() { printf '[%s] %s\n' "$TP_TEST" "$*" >&2; }
ok() { printf '[%s] ok: %s\n' "$TP_TEST" "$*"; }
fail() {
  printf '[%s] FAIL: %s\n' "$TP_TEST" "$*" >&2
  exit 1
}
# check DESCRIPTION CMD...: run CMD, report ok or fail
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

now_ms() { date +%s%3N; }

# tp_require_root [TOOL...]: skip (77) without root/netns/tun, fail without a tool
tp_require_root() {
  local t probe="tpprobe-$$"
  if [[ $(id -u) -ne 0 ]] || [[ ! -c /dev/net/tun ]] || ! command -v ip >/dev/null ||
    ! ip netns add "$probe" 2>/dev/null; then
    echo "SKIP: $TP_TEST: needs root and network namespaces"
    exit 77
  fi
  ip netns del "$probe" 2>/dev/null || true
  for t in "$PYTHON" timeout ss "$@"; do
    command -v "$t" >/dev/null || fail "missing program '$t' (Debian: apt-get install -y curl iperf3 socat python3 iproute2)"
  done
}

# tp_require_tunplug PATH: set TUNPLUG (env TUNPLUG wins over PATH)
tp_require_tunplug() {
  if tp_kernel_mode; then log "TP_MODE=kernel: no tunplug, the kernel routes over the veth"; return 0; fi
  TUNPLUG=${TUNPLUG:-${1:-}}
  [[ -n $TUNPLUG && -x $TUNPLUG ]] || fail "tunplug binary not given or not executable: '${TUNPLUG}' (pass it as \$1 or TUNPLUG=)"
}

# TP_MODE=kernel runs the traffic tests without tunplug (to check the tests themselves)
tp_kernel_mode() { [[ ${TP_MODE:-tunplug} == kernel ]]; }

nsc() { ip netns exec "$NS_C" "$@"; }
nss() { ip netns exec "$NS_S" "$@"; }

# true if PID is a live process (a zombie counts as dead)
tp_alive() {
  local st
  [[ -r /proc/$1/stat ]] || return 1
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

# true if PID runs in one of this run's namespaces (so it is ours, not a
# recycled PID of someone else's process)
tp_ours() {
  local ino ns
  ino=$(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null) || return 1
  for ns in "$NS_C" "$NS_S"; do
    [[ -n $ns && $(stat -L -c %i "/run/netns/$ns" 2>/dev/null) == "$ino" ]] && return 0
  done
  return 1
}

# tp_stop_pid PID [SECONDS]: TERM, wait (bounded), KILL; only our own processes
tp_stop_pid() {
  local pid=$1 t=${2:-3} i
  tp_alive "$pid" && tp_ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 20; i++)); do
    tp_alive "$pid" || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

tp_cleanup() {
  local rc=$? pid ns f
  set +e
  trap - EXIT INT TERM
  if [[ $rc -ne 0 && $rc -ne 77 && -n $TP_GW_LOG && -s $TP_GW_LOG ]]; then
    log "--- last lines of tunplug's log ($TP_GW_LOG) ---"
    tail -n 30 "$TP_GW_LOG" >&2
  fi
  if [[ $rc -ne 0 && $rc -ne 77 && -n $TP_TMP ]]; then
    for f in "$TP_TMP"/*.log; do
      [[ -s $f && $f != "$TP_GW_LOG" ]] || continue
      log "--- $(basename "$f") ---"
      tail -n 10 "$f" >&2
    done
  fi
  [[ -n $TP_GW_PID ]] && tp_stop_pid "$TP_GW_PID" 3
  for pid in "${TP_PIDS[@]}"; do tp_stop_pid "$pid" 2; done
  for ns in "$NS_C" "$NS_S"; do
    [[ -n $ns ]] || continue
    # whatever still runs in our own namespaces was started by this run
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  for f in "${TP_NETNS_ETC[@]}"; do rm -rf "$f"; done
  if [[ -n $TP_TMP && -d $TP_TMP ]]; then
    if [[ ${TP_KEEP:-0} == 1 ]]; then log "kept $TP_TMP"; else rm -rf "$TP_TMP"; fi
  fi
  [[ $rc -eq 0 ]] && log "cleaned up"
  exit "$rc"
}

# tp_sweep_stale_ns: remove the namespaces an earlier test left behind when
# it was killed without a chance to clean up (SIGKILL, e.g. a ctest
# timeout): ours are named tp<letters>-<pid of the test>; one whose test is
# no longer running is stale.
tp_sweep_stale_ns() {
  local ns owner pid
  for ns in $(ip netns list | awk '{print $1}'); do
    [[ $ns =~ ^tp[a-z]*-([0-9]+)$ ]] || continue
    owner=${BASH_REMATCH[1]}
    [[ $owner == "$$" ]] && continue
    kill -0 "$owner" 2>/dev/null && continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null && log "removed stale namespace $ns (test $owner is gone)"
  done
  return 0
}

# tp_topo_up: both namespaces, veth, addresses, policy routing, sysctls, tmp dir
tp_topo_up() {
  local ns pid
  tp_sweep_stale_ns
  NS_C=${TP_NS_C:-tpc-$$}
  NS_S=${TP_NS_S:-tps-$$}
  TP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tunplug-$TP_TEST.XXXXXX")
  trap tp_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  for ns in "$NS_C" "$NS_S"; do
    if grep -qw "^$ns" <<<"$(ip netns list)"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns"
    fi
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
      net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
      net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 \
      net.core.somaxconn=16384 net.ipv4.tcp_max_syn_backlog=16384 >/dev/null
  done
  ip -n "$NS_C" link add tpc0 type veth peer name tps0 netns "$NS_S"
  ip -n "$NS_C" addr add "$TP_C4/24" dev tpc0
  ip -n "$NS_C" addr add "$TP_C6/64" dev tpc0 nodad
  ip -n "$NS_S" addr add "$TP_S4/24" dev tps0
  ip -n "$NS_S" addr add "$TP_S6/64" dev tps0 nodad
  ip -n "$NS_S" addr add "$TP_DST4/32" dev lo
  ip -n "$NS_S" addr add "$TP_DST6/128" dev lo
  ip -n "$NS_C" link set tpc0 up
  ip -n "$NS_S" link set tps0 up
  # static neighbours: right after link-up the kernel sometimes leaves the
  # first IPv6 neighbour solicitation unanswered (seen: the NS reached tps0,
  # no NA, retried 1 s later), which made "refused within 1 s" flaky
  local mac_c mac_s
  mac_c=$(ip -n "$NS_C" -br link show tpc0 | awk '{print $3}')
  mac_s=$(ip -n "$NS_S" -br link show tps0 | awk '{print $3}')
  ip -n "$NS_C" neigh replace "$TP_S4" lladdr "$mac_s" dev tpc0 nud permanent
  ip -n "$NS_C" neigh replace "$TP_S6" lladdr "$mac_s" dev tpc0 nud permanent
  ip -n "$NS_S" neigh replace "$TP_C4" lladdr "$mac_c" dev tps0 nud permanent
  ip -n "$NS_S" neigh replace "$TP_C6" lladdr "$mac_c" dev tps0 nud permanent
  # the gateway's own (marked) sockets go out over the veth, never into tp0
  ip -n "$NS_C" rule add fwmark "$TP_MARK" lookup "$TP_TABLE" pref 100
  ip -n "$NS_C" -6 rule add fwmark "$TP_MARK" lookup "$TP_TABLE" pref 100
  ip -n "$NS_C" route add "$TP_NET4" via "$TP_S4" dev tpc0 table "$TP_TABLE"
  ip -n "$NS_C" -6 route add "$TP_NET6" via "$TP_S6" dev tpc0 table "$TP_TABLE"
  log "topology up: $NS_C ($TP_C4, $TP_C6) <-> $NS_S ($TP_S4, $TP_S6; $TP_DST4, $TP_DST6 on lo); tmp $TP_TMP"
}

# tp_netns_file NS FILE TEXT: TEXT into /etc/netns/NS/FILE (resolv.conf,
# hosts): `ip netns exec NS` bind-mounts it over /etc/FILE for every program
# it starts afterwards (so write it before starting them). NS is one of this
# run's namespaces; tp_cleanup removes the directory. (Not in a pipeline: a
# subshell would not record the directory.)
tp_netns_file() {
  local dir=/etc/netns/$1
  [[ -n $1 && ($1 == "$NS_C" || $1 == "$NS_S") ]] ||
    fail "tp_netns_file: '$1' is not a namespace of this run"
  TP_NETNS_ETC+=("$dir")
  mkdir -p "$dir"
  printf '%s' "$3" >"$dir/$2"
}

# kernel-direct: no tunplug, the main table of $NS_C routes straight over the veth
tp_route_kernel() {
  ip -n "$NS_C" route replace "$TP_NET4" via "$TP_S4" dev tpc0
  ip -n "$NS_C" -6 route replace "$TP_NET6" via "$TP_S6" dev tpc0
}
tp_route_kernel_del() {
  ip -n "$NS_C" route del "$TP_NET4" via "$TP_S4" dev tpc0 2>/dev/null || true
  ip -n "$NS_C" -6 route del "$TP_NET6" via "$TP_S6" dev tpc0 2>/dev/null || true
}

# tp_bg NAME NS CMD...: run CMD in namespace NS in the background, log in $TP_TMP/NAME.log
# (sets TP_LAST_PID)
TP_LAST_PID=""
tp_bg() {
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" "$@" >"$TP_TMP/$name.log" 2>&1 &
  TP_LAST_PID=$!
  TP_PIDS+=("$TP_LAST_PID")
}

# tp_wait_listen NS PORT [SECONDS] [COUNT]: until COUNT (1) TCP sockets listen on PORT in NS
tp_wait_listen() {
  local ns=$1 port=$2 t=${3:-5} want=${4:-1} i n=0
  for ((i = 0; i < t * 20; i++)); do
    n=$(ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null | wc -l) || n=0
    ((n >= want)) && return 0
    sleep 0.05
  done
  fail "$n of $want listeners on TCP port $port in $ns after ${t}s"
}

# tp_gw_start [EXTRA ARGS...]: tunplug in $NS_C with the topology's args, wait for "ready"
tp_gw_start() {
  local deadline
  if tp_kernel_mode; then tp_route_kernel; return 0; fi
  TP_GW_LOG=$TP_TMP/tunplug.log
  : >"$TP_GW_LOG"
  # the control socket in this run's directory, not the host's /run/tunplug
  # (unless the test names one, or the binary is older than --control)
  local ctl=()
  if [[ " $* " != *" --control "* && $("$TUNPLUG" --help 2>/dev/null) == *"--control PATH"* ]]; then
    ctl=(--control "$TP_TMP/tunplug.sock")
  fi
  log "start: $TUNPLUG ${TP_GW_BASE_ARGS[*]} --log-level ${TP_LOG_LEVEL:-info} ${ctl[*]} $*"
  ip netns exec "$NS_C" "$TUNPLUG" "${TP_GW_BASE_ARGS[@]}" --log-level "${TP_LOG_LEVEL:-info}" "${ctl[@]}" "$@" \
    >>"$TP_GW_LOG" 2>&1 </dev/null &
  TP_GW_PID=$!
  deadline=$(($(now_ms) + ${TP_READY_TIMEOUT:-10} * 1000))
  until grep -q 'tunplug: ready' "$TP_GW_LOG"; do
    if ! tp_alive "$TP_GW_PID"; then
      local rc=0
      wait "$TP_GW_PID" || rc=$?
      TP_GW_PID=""
      fail "tunplug exited (status $rc) before 'tunplug: ready'; log: $(tail -n 5 "$TP_GW_LOG" | tr '\n' '|')"
    fi
    (($(now_ms) < deadline)) || fail "no 'tunplug: ready' within ${TP_READY_TIMEOUT:-10}s"
    sleep 0.05
  done
  log "tunplug ready (pid $TP_GW_PID)"
}

# tp_gw_signal SIG: send a signal to the running tunplug
tp_gw_signal() { kill -s "$1" "$TP_GW_PID"; }

# tp_gw_stop [SIGNAL] [SECONDS]: signal tunplug, wait at most SECONDS for it to
# exit; sets TP_GW_RC, TP_GW_SUMMARY and TP_GW_STOP_MS; fails if it has to be killed
tp_gw_stop() {
  local sig=${1:-TERM} t=${2:-3} off t0 pid=$TP_GW_PID
  [[ -n $pid ]] || fail "tp_gw_stop: tunplug not running"
  off=$(stat -c %s "$TP_GW_LOG")
  t0=$(now_ms)
  kill -s "$sig" "$pid" 2>/dev/null || true
  while tp_alive "$pid"; do
    if (($(now_ms) - t0 > t * 1000)); then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      TP_GW_PID=""
      fail "tunplug did not exit within ${t}s of SIG$sig (killed)"
    fi
    sleep 0.02
  done
  TP_GW_STOP_MS=$(($(now_ms) - t0))
  TP_GW_RC=0
  wait "$pid" || TP_GW_RC=$?
  TP_GW_PID=""
  TP_GW_SUMMARY=$(tail -c +"$((off + 1))" "$TP_GW_LOG")
  log "tunplug exited with status $TP_GW_RC ${TP_GW_STOP_MS} ms after SIG$sig"
  [[ ${TP_QUIET_STOP:-0} == 1 ]] || printf '%s\n' "$TP_GW_SUMMARY" | sed 's/^/    /' >&2
}

# tp_gw_stop_ok: SIGTERM, status 0 within 3 s
tp_gw_stop_ok() {
  if tp_kernel_mode; then tp_route_kernel_del; return 0; fi
  tp_gw_stop TERM 3
  [[ $TP_GW_RC -eq 0 ]] || fail "tunplug exit status $TP_GW_RC after SIGTERM (want 0)"
  ok "tunplug exited 0 after SIGTERM (${TP_GW_STOP_MS} ms)"
}

# tp_gw_check_alive: fail if tunplug died meanwhile
tp_gw_check_alive() {
  tp_kernel_mode && return 0
  tp_alive "$TP_GW_PID" || fail "tunplug died; log: $(tail -n 5 "$TP_GW_LOG" | tr '\n' '|')"
}

# tp_mkfile PATH MIB: random file from /dev/urandom
tp_mkfile() {
  head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# tp_xfer up|down FAM ADDR PORT FILE WHAT: FILE through the gateway with socat
# (up: client -> a server on ADDR:PORT in $NS_S; down: server -> client), the
# sha256 compared at the receiving end; bounded by $XFER_TIMEOUT (120 s).
# Prints "ok WHAT: sha256 matches (N ms, M Mbit/s)". FAM is 4 or 6, ADDR as
# socat wants it ("[fd00::1]" for IPv6).
tp_xfer() {
  local dir=$1 fam=$2 addr=$3 port=$4 file=$5 what=$6 want got spid t0 ms bytes
  local tmo=${XFER_TIMEOUT:-120}
  want=$(sha_of "$file")
  bytes=$(stat -c %s "$file")
  if [[ $dir == up ]]; then
    tp_bg "up-$port" "$NS_S" timeout "$tmo" bash -c \
      "socat -u TCP${fam}-LISTEN:$port,bind=$addr,reuseaddr STDOUT | sha256sum >'$TP_TMP/up-$port.sum'"
    spid=$TP_LAST_PID
    tp_wait_listen "$NS_S" "$port"
    t0=$(now_ms)
    nsc timeout "$tmo" socat -u "FILE:$file" "TCP${fam}:$addr:$port" || fail "$what: client socat failed"
    wait "$spid" || fail "$what: server side failed or timed out"
    got=$(cut -d' ' -f1 "$TP_TMP/up-$port.sum")
  else
    tp_bg "down-$port" "$NS_S" timeout "$tmo" socat -u "FILE:$file" \
      "TCP${fam}-LISTEN:$port,bind=$addr,reuseaddr"
    spid=$TP_LAST_PID
    tp_wait_listen "$NS_S" "$port"
    t0=$(now_ms)
    got=$(nsc timeout "$tmo" bash -c "socat -u TCP${fam}:$addr:$port STDOUT | sha256sum" |
      cut -d' ' -f1) || fail "$what: client side failed"
    wait "$spid" || fail "$what: server socat failed or timed out"
  fi
  ms=$(($(now_ms) - t0))
  [[ $got == "$want" ]] || fail "$what: the receiver got sha256 $got, the sender sent $want"
  ok "$what: sha256 matches ($ms ms, $((bytes * 8 / 1000 / (ms + 1))) Mbit/s)"
}

# ---- upstreams by name: what the proxy was asked for ----
# tp_wait_log FILE ERE [SECONDS]: true once a line of FILE matches the
# extended regex ERE (polled, at most SECONDS, default 5).
tp_wait_log() {
  local file=$1 re=$2 t_end=$(($(now_ms) + ${3:-5} * 1000))
  while ((t_end > $(now_ms))); do
    grep -Eq -- "$re" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  grep -Eq -- "$re" "$file" 2>/dev/null
}

# tp_ere_quote TEXT: TEXT with every ERE metacharacter escaped.
tp_ere_quote() { printf '%s' "$1" | sed 's/[][\.*^$?+(){}|/]/\\&/g'; }

# tp_dante_saw_name LOG NAME PORT: danted was asked to CONNECT to NAME:PORT
# by name (ATYP 3). danted resolves a name before it logs the connect, so
# `log: connect` shows only the address; the request itself is logged with
# `debug: 1` in danted's config (one line per request):
#   dorequest(): command 1 request received from client ... Packet: VER: 5
#   CMD: 1 FLAG: 0 ATYP: 3 address: www.example.com.443
# (a CONNECT by IP says ATYP: 1 / ATYP: 4 there). Waits up to 5 s.
tp_dante_saw_name() {
  tp_wait_log "$1" "dorequest\(\): command 1 request .*ATYP: 3 address: $(tp_ere_quote "$2")\.$3( |\$)"
}

# tp_dante_saw_udp_name LOG NAME PORT: like tp_dante_saw_name for a UDP
# datagram whose header names NAME:PORT (ATYP 3); danted with `debug: 1`
# logs `io_udp_client2target(): packet of length N (payload length M) from
# client ... for target NAME.PORT`. Waits up to 5 s.
tp_dante_saw_udp_name() {
  tp_wait_log "$1" "io_udp_client2target\(\): packet .* for target $(tp_ere_quote "$2")\.$3( |\$)"
}

# tp_tinyproxy_saw_connect LOG NAME PORT: tinyproxy (LogLevel Info or
# Connect; its LogFile, or its stderr with -d) got "CONNECT NAME:PORT
# HTTP/1.1": it logs `Request (file descriptor N): CONNECT NAME:PORT
# HTTP/1.1`. Waits up to 5 s.
tp_tinyproxy_saw_connect() {
  tp_wait_log "$1" "Request \(file descriptor [0-9]+\): CONNECT $(tp_ere_quote "$2"):$3 HTTP/1\.1"
}
