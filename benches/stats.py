"""Summarises benchmark samples: `stats.py FILE` where FILE has lines `name value`.
Prints one line per name: median, min, max, count."""

import statistics
import sys
from collections import OrderedDict

samples = OrderedDict()
for line in open(sys.argv[1], encoding="utf-8"):
    parts = line.split()
    if len(parts) == 2:
        samples.setdefault(parts[0], []).append(float(parts[1]))
for name, values in samples.items():
    print(f"{name:44s} median {statistics.median(values):12.3f}  min {min(values):12.3f}  max {max(values):12.3f}  n={len(values)}")
