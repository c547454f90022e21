#!/usr/bin/env bash
# What one runner's tunnel (a leafnode connection over mutual TLS) costs a hub node in memory,
# for each leafnode compression mode, beside the floor (compression off) in the same run.
#
#   bash loadtest/leaf-memory.sh [LEAVES] [MODES...]      (default: 50 off s2_auto s2_fast)
#
# Per mode: one hub nats-server, then LEAVES leaf nats-servers, each dialling it with its own
# client certificate (made here by openssl, a throwaway CA). When every leaf is connected and
# has carried traffic (each leaf publishes 64 KiB messages that a subscriber on the hub reads),
# it prints the hub's RSS growth per leaf connection, a leaf's own RSS, and the compression
# the hub reports in /leafz. s2_auto is nats-server's default: on loopback (RTT under 10 ms) it
# sends s2's uncompressed frames, so s2_fast is also measured, as a runner over a WAN would get.
# Uses $CLOUDOPS_NATS_SERVER (nats-server 2.10 or newer: leafnode compression).
set -euo pipefail
leaves=${1:-50}
shift || true
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(off s2_auto s2_fast)
nats=${CLOUDOPS_NATS_SERVER:?set CLOUDOPS_NATS_SERVER to a nats-server 2.10 or newer}
work=$(mktemp -d)
pids=()
cleanup() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
leafz() { curl -fsS "http://127.0.0.1:$1/leafz"; }

# A CA, the hub's certificate, and one client certificate the leaves share (the hub verifies it).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=lab-ca \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
for who in hub leaf; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$who" \
    -keyout "$work/$who.key" -out "$work/$who.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$work/$who.ext"
  openssl x509 -req -in "$work/$who.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 1 -extfile "$work/$who.ext" -out "$work/$who.pem" 2>/dev/null
done
tls() { printf 'tls { cert_file: "%s/%s.pem", key_file: "%s/%s.key", ca_file: "%s/ca.pem"%s }' \
  "$work" "$1" "$work" "$1" "$work" "$2"; }

wait_leaves() { # monitor port, count
  for _ in $(seq 600); do
    [ "$(leafz "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["leafnodes"])')" = "$2" ] && return 0
    sleep 0.1
  done
  echo "only $(leafz "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["leafnodes"])') of $2 leaves connected" >&2
  return 1
}

printf '%s\n' "leaves: $leaves; nats-server: $("$nats" --version)"
printf '%-9s %-20s %20s %24s %12s %13s\n' mode "compression (/leafz)" "hub KiB/leaf, idle" "hub KiB/leaf, traffic" "hub RSS MiB" "leaf RSS MiB"
for mode in "${modes[@]}"; do
  d="$work/$mode"; mkdir -p "$d"
  hub_port=$(free_port); leaf_port=$(free_port); mon=$(free_port)
  cat > "$d/hub.conf" <<EOF
host: 127.0.0.1
port: $hub_port
http: 127.0.0.1:$mon
max_payload: 8MB
leafnodes { host: 127.0.0.1, port: $leaf_port, compression: $mode, $(tls hub ', verify: true, timeout: 2') }
EOF
  "$nats" -c "$d/hub.conf" > "$d/hub.log" 2>&1 & hub=$!; pids+=("$hub")
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$mon/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
  # A subscriber on the hub: interest, so that what the leaves publish crosses their connections.
  exec 3<>"/dev/tcp/127.0.0.1/$hub_port"
  printf 'CONNECT {"verbose":false,"pedantic":false}\r\nSUB lab.> 1\r\nPING\r\n' >&3
  (wc -c <&3 > "$d/delivered") & pids+=("$!")
  sleep 1
  hub_before=$(rss_kib "$hub")
  leaf_pids=()
  for i in $(seq "$leaves"); do
    lp=$(free_port)
    cat > "$d/leaf-$i.conf" <<EOF
host: 127.0.0.1
port: $lp
max_payload: 8MB
leafnodes { remotes: [ { url: "tls://127.0.0.1:$leaf_port", compression: $mode, $(tls leaf ', timeout: 2') } ] }
EOF
    echo "$lp" > "$d/leaf-$i.port"
    "$nats" -c "$d/leaf-$i.conf" > "$d/leaf-$i.log" 2>&1 & leaf_pids+=("$!"); pids+=("$!")
  done
  wait_leaves "$mon" "$leaves"
  sleep 2
  hub_idle=$(rss_kib "$hub")
  # Traffic through every leaf: 16 messages of 64 KiB each (a burst of logs or exec bytes).
  payload=$(head -c 49152 /dev/urandom | base64 -w0)
  for i in $(seq "$leaves"); do
    lp=$(cat "$d/leaf-$i.port")
    {
      printf 'CONNECT {"verbose":false,"pedantic":false}\r\n'
      for m in $(seq 16); do printf 'PUB lab.%s.%s %s\r\n%s\r\n' "$i" "$m" "${#payload}" "$payload"; done
      printf 'PING\r\n'
      sleep 0.2
    } | timeout 5 bash -c "exec 4<>/dev/tcp/127.0.0.1/$lp; cat >&4; head -c 64 <&4 > /dev/null" || true
  done
  sleep 3
  hub_after=$(rss_kib "$hub")
  leaf_sum=0; for p in "${leaf_pids[@]}"; do leaf_sum=$((leaf_sum + $(rss_kib "$p"))); done
  compression=$(leafz "$mon" | python3 -c 'import json,sys; l=json.load(sys.stdin)["leafs"]; print(sorted({x.get("compression","?") for x in l}))')
  printf '%-9s %-20s %20d %24d %12.1f %13.1f\n' "$mode" "$compression" $(((hub_idle - hub_before) / leaves)) \
    $(((hub_after - hub_before) / leaves)) \
    "$(echo "$hub_after / 1024" | bc -l)" "$(echo "$leaf_sum / $leaves / 1024" | bc -l)"
  kill "${leaf_pids[@]}" "$hub" 2>/dev/null || true
  exec 3>&-
  wait 2>/dev/null || true
  delivered=$(cat "$d/delivered")
  expected=$((leaves * 16 * 65536))
  [ "$delivered" -ge "$expected" ] || echo "  the hub's subscriber read $delivered bytes of the $expected sent: not every message crossed" >&2
  pids=()
done
