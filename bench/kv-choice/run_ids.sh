#!/usr/bin/env bash
# Id-scheme comparison, one session:
#   KV_IDS=time   : redb, fjall  TIME_REPS times (default 5)
#   KV_IDS=random : redb, fjall  RANDOM_REPS times (default 3) -- same-session baseline
# Each store runs in its own process. Store order alternates per rep (redb->fjall on odd
# reps, fjall->redb on even), and so does the scheme order (time first on odd reps,
# random first on even reps), so that machine noise is spread over both schemes.
set -euo pipefail
cd "$(dirname "$0")"
TIME_REPS=${TIME_REPS:-5}
RANDOM_REPS=${RANDOM_REPS:-3}
BIN=kv-choice/target/release/kv-choice
(cd kv-choice && cargo build --release -q)
mkdir -p results data
: > results/raw_ids_time.txt
: > results/raw_ids_random.txt

one() { # ids store
  local ids=$1 s=$2
  echo "$(date +%T) rep $i: ids=$ids $s (cpu pressure: $(head -1 /proc/pressure/cpu))" >&2
  rm -rf "data/$s"
  KV_IDS=$ids "$BIN" "$s" "data/$s" \
    | grep '^RESULT' | sed "s/^RESULT /RESULT rep=$i /" | tee -a "results/raw_ids_$ids.txt"
  rm -rf "data/$s"
}
pair() { # ids
  if (( i % 2 )); then one "$1" redb; one "$1" fjall; else one "$1" fjall; one "$1" redb; fi
}

for i in $(seq 1 "$TIME_REPS"); do
  if (( i % 2 )); then
    pair time
    if (( i <= RANDOM_REPS )); then pair random; fi
  else
    if (( i <= RANDOM_REPS )); then pair random; fi
    pair time
  fi
done
python3 summarize.py results/raw_ids_time.txt | tee results/summary_ids_time.md
python3 summarize.py results/raw_ids_random.txt | tee results/summary_ids_random.md
