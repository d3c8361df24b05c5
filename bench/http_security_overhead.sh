#!/usr/bin/env bash
# The price of Rampart's security on the cheapest request, GET /, measured side by side in one
# run (this machine is shared and noisy: compare the ratios, not the absolute numbers):
#   open   - xpack.security.enabled: false, plain HTTP (the baseline)
#   auth   - Basic authentication (credential cache warm), plain HTTP
#   tls    - Basic authentication over HTTPS (TLS 1.3, keep-alive)
# Needs wrk (apt-get install wrk). Not part of CI. Usage: bench/http_security_overhead.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v wrk >/dev/null || { echo "install wrk first (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q
bin=$PWD/target/release/rampart
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then export RAMPART_ALLOW_ROOT=I-understand-running-as-root-is-unsafe; fi
export ELASTIC_PASSWORD=bench-password-1

start() { # name, extra -E settings...
  local name=$1; shift
  local args=(--home "$tmp/$name" start -E http.port=0 -E node.portsfile=true -E discovery.type=single-node)
  for s in "$@"; do args+=(-E "$s"); done
  "$bin" "${args[@]}" >"$tmp/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do [ -s "$tmp/$name/logs/http.ports" ] && break; sleep 0.05; done
  head -1 "$tmp/$name/logs/http.ports" | sed 's/.*://'
}

open_port=$(start open xpack.security.enabled=false xpack.security.http.ssl.enabled=false xpack.security.transport.ssl.enabled=false)
auth_port=$(start auth xpack.security.http.ssl.enabled=false xpack.security.transport.ssl.enabled=false)
tls_port=$(start tls)
basic="Authorization: Basic $(printf 'elastic:%s' "$ELASTIC_PASSWORD" | base64)"

rps() { wrk -t1 -c16 -d"${seconds}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
open=$(rps "http://127.0.0.1:$open_port/")
auth=$(rps -H "$basic" "http://127.0.0.1:$auth_port/")
tls=$(rps -H "$basic" "https://127.0.0.1:$tls_port/")
awk -v o="$open" -v a="$auth" -v t="$tls" 'BEGIN {
  printf "open (baseline)   %10.0f req/s  1.00\n", o
  printf "auth, plain HTTP  %10.0f req/s  %.2f\n", a, a / o
  printf "auth, HTTPS       %10.0f req/s  %.2f\n", t, t / o
}'
