#!/usr/bin/env bash
# Process-crash test: SIGKILL the writer once it has acknowledged >= KILL_AT docs
# (1000-doc durable transactions), reopen, check that every acknowledged commit is present
# in both tables, and time the reopen (crash recovery).
# NOTE: this simulates a process crash only (page cache survives), not power loss / OS crash.
set -euo pipefail
cd "$(dirname "$0")"
BIN=kv-choice/target/release/kv-choice
KILL_AT=${KILL_AT:-300000}
mkdir -p results data
: > results/crash.txt
for i in 1 2 3; do
  if (( i % 2 )); then order="redb fjall"; else order="fjall redb"; fi
  for s in $order; do
    d=data/crash-$s
    "$BIN" crash-writer "$s" "$d" > data/ack-$s.log &
    pid=$!
    while :; do
      last=$(tail -n 1 data/ack-$s.log 2>/dev/null | awk '{print $2}')
      [[ -n $last && $last -ge $KILL_AT ]] && break
      sleep 0.02
    done
    kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
    acked=$(tail -n 1 data/ack-$s.log | awk '{print $2}')
    "$BIN" crash-verify "$s" "$d" "$acked" | sed "s/^CRASH /CRASH rep=$i /" | tee -a results/crash.txt
    rm -rf "$d" data/ack-$s.log
  done
done
