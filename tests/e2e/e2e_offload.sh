#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_offload: 200 MB both ways over IPv4 and over IPv6 (sha256 compared),
# three times: with offloads on (the default: virtio_net_hdr, TSO
# super-packets read and fed to lwIP whole, TCP segments coalesced into
# super-packets on write), the same at MTU 9000, and with --no-offload. Then,
# from tunplug's exit summary: with offloads on, super-packets in > 0 and
# out > 0 with more than one segment per super-packet each way, and every
# TCP super-packet read fed whole (none split), and lwIP's own TCP
# super-segments (patch 0012) written with a TSO header, none refused; with
# --no-offload, none at all. (UDP with and without offload: e2e_iperf_udp.)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root socat sha256sum
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
tp_topo_up

BIG_MIB=${TP_BULK_MIB:-200}
V6_MIB=${TP_BULK6_MIB:-200}
XFER_TIMEOUT=${TP_XFER_TIMEOUT:-120}
tp_mkfile "$TP_TMP/big.bin" "$BIG_MIB"
head -c "$((V6_MIB * 1024 * 1024))" "$TP_TMP/big.bin" >"$TP_TMP/v6.bin"

# upload / download MODE FAMILY ADDR PORT FILE MIB (lib.sh: tp_xfer)
upload() { tp_xfer up "$2" "$3" "$4" "$5" "$1: upload $6 MiB over IPv$2"; }

download() { tp_xfer down "$2" "$3" "$4" "$5" "$1: download $6 MiB over IPv$2"; }

# summary_field REGEX: first capture group of REGEX in the last tunplug summary
summary_field() {
  sed -nE "s/.*$1.*/\\1/p" <<<"$TP_GW_SUMMARY" | head -n 1
}

# run MODE PORTBASE [TUNPLUG ARGS...]: all four transfers through one tunplug
run() {
  local mode=$1 p=$2
  shift 2
  tp_gw_start "$@"
  if grep -q 'offload: off (built without' "$TP_GW_LOG"; then
    echo "SKIP: $TP_TEST: tunplug was built without tun/src/offload.c"
    exit 77
  fi
  upload "$mode" 4 "$TP_DST4" "$p" "$TP_TMP/big.bin" "$BIG_MIB"
  download "$mode" 4 "$TP_DST4" "$((p + 1))" "$TP_TMP/big.bin" "$BIG_MIB"
  upload "$mode" 6 "[$TP_DST6]" "$((p + 2))" "$TP_TMP/v6.bin" "$V6_MIB"
  download "$mode" 6 "[$TP_DST6]" "$((p + 3))" "$TP_TMP/v6.bin" "$V6_MIB"
  tp_gw_check_alive
  OFFLOAD_LINE=$(grep -m1 'tunplug: offload:' "$TP_GW_LOG" || true)
  tp_gw_stop_ok
  SP_IN=$(summary_field 'super-packets in ([0-9]+) \(')
  SEG_IN=$(summary_field 'super-packets in [0-9]+ \(([0-9]+) segments')
  SP_OUT=$(summary_field 'out ([0-9]+) \([0-9]+ segments')
  SEG_OUT=$(summary_field 'out [0-9]+ \(([0-9]+) segments')
  WHOLE=$(summary_field 'tcp super-packets in: whole ([0-9]+),')
  SPLIT=$(summary_field 'tcp super-packets in: whole [0-9]+, split ([0-9]+) ')
  INPLACE=$(summary_field 'read in place \(no copy\) ([0-9]+)')
  TSO_W=$(summary_field ', ([0-9]+) TSO writes')
  TSO_SEGS=$(summary_field 'TSO writes \(([0-9]+) segments')
  TSO_EINVAL=$(summary_field 'TSO EINVAL ([0-9]+)')
  READS=$(summary_field 'tun: reads ([0-9]+),')
  WRITES=$(summary_field 'tun: reads [0-9]+, writes ([0-9]+),')
  [[ -n $SP_IN && -n $SEG_IN && -n $SP_OUT && -n $SEG_OUT && -n $READS && -n $WRITES &&
    -n $WHOLE && -n $SPLIT && -n $INPLACE && -n $TSO_W && -n $TSO_SEGS && -n $TSO_EINVAL ]] ||
    fail "$mode: no super-packet/tun counters in tunplug's summary"
  log "$mode: ${OFFLOAD_LINE#*tunplug: }; tun reads $READS, writes $WRITES;" \
    "super-packets in $SP_IN ($SEG_IN segments; TCP fed whole $WHOLE, split $SPLIT)," \
    "out $SP_OUT ($SEG_OUT segments); TSO writes $TSO_W ($TSO_SEGS segments, EINVAL $TSO_EINVAL)"
}

run offload 5101
case $OFFLOAD_LINE in
  *"offload: off"*) fail "offload: tunplug started without offloads on this kernel: $OFFLOAD_LINE" ;;
  *"offload: csum tso4 tso6"*) ok "offload: granted: ${OFFLOAD_LINE#*offload: }" ;;
  *) fail "offload: no 'offload:' line at start (got '$OFFLOAD_LINE')" ;;
esac
check "offload: super-packets read from the tun ($SP_IN) > 0" test "$SP_IN" -gt 0
# written super-packets: lwIP's super-segments (TSO writes) and segments
# coalesced by tun/ (now mostly what split-to-fit and retransmissions cut)
check "offload: super-packets written to the tun ($SP_OUT coalesced + $TSO_W TSO) > 0" \
  test "$((SP_OUT + TSO_W))" -gt 0
check "offload: segments per super-packet in ($SEG_IN / $SP_IN) > 1" test "$SEG_IN" -gt "$SP_IN"
check "offload: segments per super-packet out ($SEG_OUT + $TSO_SEGS / $SP_OUT + $TSO_W) > 1" \
  test "$((SEG_OUT + TSO_SEGS))" -gt "$((SP_OUT + TSO_W))"
check "offload: TCP super-packets fed to lwIP whole ($WHOLE) > 0" test "$WHOLE" -gt 0
# only TCP super-packets come in (uploads), each from this host's kernel:
# NEEDS_CSUM, no ECN, no options, so none has a reason to be split
check "offload: every super-packet read went in whole ($WHOLE of $SP_IN, split $SPLIT)" \
  test "$WHOLE" -eq "$SP_IN" -a "$SPLIT" -eq 0
# read straight into the stack's buffer: a super-packet of 8 KiB or more
# becomes lwIP's pbuf without a copy (the last, shorter ones of a
# transfer are copied)
check "offload: super-packets read in place, no copy ($INPLACE of $WHOLE) > half" \
  test "$((2 * INPLACE))" -gt "$WHOLE"
check "offload: lwIP's super-segments written with a TSO header ($TSO_W) > 0" test "$TSO_W" -gt 0
check "offload: segments per TSO write ($TSO_SEGS / $TSO_W) > 1" test "$TSO_SEGS" -gt "$TSO_W"
check "offload: no TSO write refused ($TSO_EINVAL)" test "$TSO_EINVAL" -eq 0
ON_SYSCALLS=$((READS + WRITES))

# a jumbo MTU: lwIP's MSS 8960, super-packets of 8948-byte segments, still whole
run mtu9000 5301 --mtu 9000
check "mtu9000: super-packets read from the tun ($SP_IN) > 0" test "$SP_IN" -gt 0
check "mtu9000: every super-packet read went in whole ($WHOLE of $SP_IN, split $SPLIT)" \
  test "$WHOLE" -eq "$SP_IN" -a "$SPLIT" -eq 0
check "mtu9000: TSO writes ($TSO_W) > 0, none refused ($TSO_EINVAL)" \
  test "$TSO_W" -gt 0 -a "$TSO_EINVAL" -eq 0

run no-offload 5201 --no-offload
case $OFFLOAD_LINE in
  *"offload: off (--no-offload"*) ok "no-offload: logged ${OFFLOAD_LINE#*offload: }" ;;
  *) fail "no-offload: expected 'offload: off (--no-offload)' at start, got '$OFFLOAD_LINE'" ;;
esac
check "no-offload: no super-packets in ($SP_IN)" test "$SP_IN" -eq 0
check "no-offload: no super-packets out ($SP_OUT)" test "$SP_OUT" -eq 0
check "no-offload: nothing fed whole ($WHOLE) or split ($SPLIT)" test "$WHOLE" -eq 0 -a "$SPLIT" -eq 0
check "no-offload: no TSO writes ($TSO_W)" test "$TSO_W" -eq 0
# a plain tun at MTU 1500: no segment reaches the in-place size
check "no-offload: nothing read in place ($INPLACE)" test "$INPLACE" -eq 0
OFF_SYSCALLS=$((READS + WRITES))
log "tun reads+writes for the same $((2 * BIG_MIB + 2 * V6_MIB)) MiB: offload $ON_SYSCALLS," \
  "no-offload $OFF_SYSCALLS ($((OFF_SYSCALLS / (ON_SYSCALLS + 1)))x)"
check "offload: fewer tun syscalls than with --no-offload ($ON_SYSCALLS < $OFF_SYSCALLS)" \
  test "$ON_SYSCALLS" -lt "$OFF_SYSCALLS"
echo "e2e_offload: PASS"
