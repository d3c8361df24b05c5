#!/usr/bin/env bash
# Runs each store in its own process (so VmHWM is per store), alternating order.
#   main:          redb, fjall (library defaults, fjall PersistMode::SyncAll)   REPS times (default 5)
#   supplementary: fjall-syncdata (PersistMode::SyncData)                       3 times
#                  equal-cache runs: redb+cache32m, fjall+cache1024m             3 times
set -euo pipefail
cd "$(dirname "$0")"
REPS=${REPS:-5}
SUPP=${SUPP:-3}
BIN=kv-choice/target/release/kv-choice
(cd kv-choice && cargo build --release -q)
mkdir -p results data
: > results/raw.txt

one() { # store [cache_mb]
  local s=$1 c=${2:-}
  echo "$(date +%T) rep $i: $s ${c:+cache=${c}MiB}" >&2
  rm -rf "data/$s"
  if [[ -n $c ]]; then KV_CACHE_MB=$c "$BIN" "$s" "data/$s"; else "$BIN" "$s" "data/$s"; fi \
    | grep '^RESULT' | sed "s/^RESULT /RESULT rep=$i /" | tee -a results/raw.txt
  rm -rf "data/$s"
}

for i in $(seq 1 "$REPS"); do
  if (( i % 2 )); then one redb; one fjall; else one fjall; one redb; fi
  if (( i <= SUPP )); then
    if (( i % 2 )); then one fjall-syncdata; one redb 32; one fjall 1024
    else one fjall 1024; one redb 32; one fjall-syncdata; fi
  fi
done
python3 summarize.py results/raw.txt | tee results/summary.md
