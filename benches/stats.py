"""Summarises benchmark samples: `stats.py FILE` where FILE has lines `name value`.
Prints one line per name (median, min, max, count), then one line per target of issue 11 that
the samples allow: the measured median, the reference median, their ratio, the limit and
PASS or FAIL. Every ratio is taken between samples of the same run."""

import statistics
import sys
from collections import OrderedDict

samples = OrderedDict()
for line in open(sys.argv[1], encoding="utf-8"):
    parts = line.split()
    if len(parts) == 2:
        samples.setdefault(parts[0], []).append(float(parts[1]))
for name, values in samples.items():
    print(f"{name:48s} median {statistics.median(values):12.3f}  min {min(values):12.3f}  max {max(values):12.3f}  n={len(values)}")

median = {name: statistics.median(values) for name, values in samples.items()}


def target(label, measured, reference, limit, at_least=False):
    """One line: measured / reference against a limit on the ratio (or on the value alone)."""
    if measured not in median or (reference is not None and reference not in median):
        return
    value = median[measured]
    if reference is None:
        ratio, shown = value, "-"
    else:
        ratio, shown = value / median[reference], f"{median[reference]:.3f}"
    ok = ratio >= limit if at_least else ratio <= limit
    sign = ">=" if at_least else "<="
    print(f"TARGET {label:58s} {value:10.3f}  ref {shown:>10s}  ratio {ratio:7.3f}  {sign} {limit:<6g} {'PASS' if ok else 'FAIL'}")


print()
for corpus in ("t200", "t12"):
    b = f"build.{corpus}"
    target(f"{corpus}: up to date, wall / floor", f"{b}.kurier_up_to_date.wall_s", f"{b}.floor.wall_s", 2)
    target(f"{corpus}: up to date, wall / minimal Hugo", f"{b}.kurier_up_to_date.wall_s", f"{b}.hugo_minimal.wall_s", 0.25)
    target(f"{corpus}: up to date without cache, wall / floor", f"{b}.kurier_up_to_date_no_cache.wall_s", f"{b}.floor.wall_s", 2)
    target(f"{corpus}: up to date without cache, wall / minimal Hugo", f"{b}.kurier_up_to_date_no_cache.wall_s", f"{b}.hugo_minimal.wall_s", 0.25)
    target(f"{corpus}: empty output folder, wall / floor", f"{b}.kurier_empty_output.wall_s", f"{b}.floor.wall_s", 3)
    # Not a target of the issue: how much of the empty-output time is the hardware's writing.
    target(f"{corpus}: (empty output, wall / write floor)", f"{b}.kurier_empty_output.wall_s", f"{b}.write_floor.wall_s", 3)
    for run in ("up_to_date", "up_to_date_no_cache", "empty_output"):
        target(f"{corpus}: {run}, peak MiB", f"{b}.kurier_{run}.peak_mib", None, 200)
target("start on the unchanged 10k site: correct feeds served, ms", "startup.10000.feeds_ms", None, 300)
target("100k posts / 10k posts, build without cache, wall", "scale.100000.up_to_date_no_cache.wall_s", "scale.10000.up_to_date_no_cache.wall_s", 12)
target("100k posts / 10k posts, build into an empty folder, wall", "scale.100000.empty_output.wall_s", "scale.10000.empty_output.wall_s", 12)
target("100k posts, build without cache: peak MiB", "scale.100000.up_to_date_no_cache.peak_mib", None, 1024)
target("100k posts, build into an empty folder: peak MiB", "scale.100000.empty_output.peak_mib", None, 1024)
target("related step, 10k / 1k posts (quadratic: 100)", "scale.10000.related_ms", "scale.1000.related_ms", 100)
target("related step, 100k / 10k posts (quadratic: 100)", "scale.100000.related_ms", "scale.10000.related_ms", 100)
for posts in (10000, 100000):
    for kind in ("title", "text", "common"):
        k = f"{posts // 1000}k, {kind} edit"
        target(f"{k}: the edited post's feeds on disk, ms", f"incremental.{posts}.{kind}.event_to_disk_ms", None, 50 if posts == 10000 else 100)
        target(f"{k}: related posts settled, ms", f"incremental.{posts}.{kind}.related_settled_ms", None, 100)
target("digest, 8 connections, smtp-sink: kurier / raw client msg/s", "digest.smtp.kurier_msgs_per_s", "digest.smtp.raw_client_msgs_per_s", 0.8, at_least=True)
for transport in ("file", "smtp"):
    target(f"digest ({transport}): peak MiB, 1,000,000 / 10,000 recipients", f"digest_{transport}.1000000.peak_mib", f"digest_{transport}.10000.peak_mib", 1.25)
for backend in ("postgres", "sqlite"):
    for endpoint in ("healthz", "rss", "rss_conditional", "subscribe"):
        target(f"latency under load ({backend}): {endpoint} p99, ms", f"latency.{backend}.{endpoint}.p99_ms", None, 50)
