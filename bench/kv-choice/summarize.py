#!/usr/bin/env python3
"""Median per store label per metric from a raw RESULT file, plus the fjall/redb ratio
(library-default configurations)."""
import statistics, sys
from collections import defaultdict

runs = defaultdict(lambda: defaultdict(list))
order = []
schemes = set()
import fileinput
for line in fileinput.input(sys.argv[1:]):
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    store = kv.pop("store"); kv.pop("rep")
    schemes.add(kv.pop("ids", "random"))  # absent in lines from before KV_IDS existed
    if store not in order:
        order.append(store)
    for k, v in kv.items():
        runs[store][k].append(float(v))

if len(schemes) != 1:
    sys.exit(f"refusing to pool runs with different id schemes: {sorted(schemes)}")
print(f"id scheme: {schemes.pop()}\n")
main = [s for s in ("redb", "fjall") if s in runs]
stores = main + sorted(s for s in order if s not in main)
metrics = list(dict.fromkeys(k for s in stores for k in runs[s]))
print("| metric | " + " | ".join(f"{s} (n={len(runs[s]['bulk_s'])})" for s in stores) + " | fjall/redb |")
print("|---" * (len(stores) + 2) + "|")
for m in metrics:
    med = {s: (statistics.median(runs[s][m]) if runs[s][m] else None) for s in stores}
    ratio = med["fjall"] / med["redb"] if med["redb"] and med["fjall"] is not None else float("nan")
    cell = lambda v: "-" if v is None else f"{v:g}"
    print(f"| {m} | " + " | ".join(cell(med[s]) + ("" if len(runs[s][m]) in (0, len(runs[s]['bulk_s'])) else f" (n={len(runs[s][m])})") for s in stores) + f" | {ratio:.2f} |")
print()
print("Range over runs (min..max):")
for m in metrics:
    print(f"- {m}: " + "; ".join(f"{s} {min(runs[s][m]):g}..{max(runs[s][m]):g}" for s in stores if runs[s][m]))
