"""Time from `kurier run` to correct feeds served, on an unchanged site (issue 11, point 3).

Usage: startup.py KURIER SITE_DIR [RUNS]

SITE_DIR's kurier.toml must listen on a fixed port ([http] listen). The daemon is started once to
build and record its build (the cache a restart starts from), stopped, then started RUNS times.
Each time: the wall time from spawning the process to the first 200 of /rss.xml, /atom.xml and
/feed.json whose bodies are the files on disk and whose ETags are the SHA-256 prefixes of those
bytes (a wrong or stale feed does not count as served); then the time until the log says the
posts were read. Prints one line per run and the medians.
"""

import hashlib
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def port_of(site):
    text = open(os.path.join(site, "kurier.toml"), encoding="utf-8").read()
    return int(re.search(r'listen\s*=\s*"[^"]*:(\d+)"', text).group(1))


def served(port, site, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=5) as reply:
            body = reply.read()
            etag = reply.headers.get("ETag")
    except OSError:
        return False
    with open(os.path.join(site, "public", path), "rb") as f:
        on_disk = f.read()
    return body == on_disk and etag == '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def start(kurier, site):
    return subprocess.Popen(
        [kurier, "--root", site, "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ, RUST_LOG="info"),
    )


def watch_log(process, needle, seen):
    for line in process.stderr:
        if needle in line.decode("utf-8", "replace"):
            seen.append(time.monotonic())


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def one_run(kurier, site, port):
    began = time.monotonic()
    process = start(kurier, site)
    read = []
    threading.Thread(target=watch_log, args=(process, "kept as they are", read), daemon=True).start()
    pending = ["rss.xml", "atom.xml", "feed.json"]
    while pending:
        if served(port, site, pending[0]):
            pending.pop(0)
        else:
            time.sleep(0.002)
        if time.monotonic() - began > 120:
            raise SystemExit("no correct feeds within 120 s")
    feeds = time.monotonic() - began
    while not read and time.monotonic() - began < 120:
        time.sleep(0.005)
    posts = read[0] - began if read else float("nan")
    stop(process)
    return feeds, posts


def main():
    kurier, site = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    port = port_of(site)
    cache = os.path.join(site, ".kurier-build-cache")
    if os.path.exists(cache):
        os.remove(cache)
    first = start(kurier, site)
    began = time.monotonic()
    while not os.path.exists(cache):  # written once the first build has written the feeds
        time.sleep(0.01)
        if time.monotonic() - began > 300:
            raise SystemExit("the first build did not record itself within 300 s")
    stop(first)
    feeds, posts = [], []
    for run in range(1, runs + 1):
        f, p = one_run(kurier, site, port)
        feeds.append(f)
        posts.append(p)
        print(f"run {run}: correct feeds served after {f * 1e3:.0f} ms; posts read after {p * 1e3:.0f} ms")
    print(f"median: feeds {statistics.median(feeds) * 1e3:.0f} ms, posts read {statistics.median(posts) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
