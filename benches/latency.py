"""HTTP latency of one `kurier run` node under load (issue 10, point 5).

Usage: latency.py KURIER CORPUS_DIR BACKEND [--recipients N] [--rate R] [--max-seconds S]
                  [--results FILE]

CORPUS_DIR is a site made by `benches/corpus.py` (10,000 posts in the issue's figure); it is
copied to a scratch folder next to it. BACKEND is `sqlite` (the embedded store) or `postgres`
(a fresh database on the server of KURIER_TEST_POSTGRES_URL, see tests/postgres.sh).

The node serves the site with N active subscribers (imported first) and a digest schedule that
fires about 20 s after the start; it is started in a session of its own, as systemd starts a
service (--shell-session: in this script's, as from a shell); [smtp] points at Postfix's
smtp-sink (8 connections). From the
"digest due" log line until "digest run done" (the issue is created, its recipients frozen and
every message sent), kurier.toml's description is changed again as soon as the last rebuild is
logged, so that the whole site is read and its feeds rendered over and over (only the main feeds,
which show the description, are written again); and
an open-loop client sends, at a fixed rate R per endpoint (whatever the server's answers take:
each request starts at its planned time, on a connection of its own):

  GET /healthz, GET /rss.xml, GET /rss.xml with If-None-Match (the ETag last seen),
  POST /subscribe with a new address each time.

POST /subscribe is limited per client address; the node trusts 127.0.0.1 as a proxy
([http] trusted_proxies) and each request carries its own X-Forwarded-For address, so no request
is refused by the limit (the limit is still counted in the store, as for real clients).

A request's latency runs from its planned start to the last byte of the answer, so a client that
fell behind counts against the server, not in its favour. Prints p50 / p99 / max per endpoint,
the answers' status codes and the requests that got no answer (a connection error, an empty
reply, no HTTP status line, or nothing within 30 s: counted per endpoint, and any of them fails
that endpoint's target), the rebuilds and messages in the window, kurier's peak RSS, and one
TARGET line per endpoint (p99 <= 50 ms: PASS or FAIL). With --results, appends `name value`
samples for benches/stats.py.
"""

import argparse
import asyncio
import datetime
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zoneinfo

TARGET_P99_MS = 50.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(predicate, what, timeout=600):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"latency.py: no {what} within {timeout} s")
        time.sleep(0.1)


class Log:
    """The daemon's log file, read as it grows."""

    def __init__(self, path):
        self.path = path

    def text(self):
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def count(self, needle):
        return self.text().count(needle)


def postgres_database():
    server = os.environ.get("KURIER_TEST_POSTGRES_URL")
    if not server:
        sys.exit("latency.py: postgres needs KURIER_TEST_POSTGRES_URL (source tests/postgres.sh)")
    name = f"kurier_latency_{os.getpid()}"
    psql = sorted(
        (d for d in os.listdir("/usr/lib/postgresql")), key=lambda v: [int(x) for x in v.split(".")]
    )[-1]
    psql = f"/usr/lib/postgresql/{psql}/bin/psql"
    subprocess.run([psql, "-q", server, "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"],
                   check=True)
    url = urllib.parse.urlsplit(server)
    return url._replace(path=f"/{name}").geturl(), lambda: subprocess.run(
        [psql, "-q", server, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


def site_config(text, http_port, sink_port, store_url, fire, send_rate=None):
    """The corpus's kurier.toml with the bench's schedule, listener, sink and store."""
    cron = f"{fire.second} {fire.minute} {fire.hour} * * *"
    text = text.replace("[digest]\n", f'[digest]\nschedule = "{cron}"\n', 1)
    # The corpus's own listener (other sections add one) gives way to the bench's.
    text = re.sub(r"(?ms)^\[http\]\n.*?(?=^\[|\Z)", "", text)
    text += (
        f'[http]\nlisten = "127.0.0.1:{http_port}"\ntrusted_proxies = ["127.0.0.1"]\n'
        f'[smtp]\nurl = "smtp://127.0.0.1:{sink_port}"\nconcurrency = 8\ntimeout_seconds = 30\n'
    )
    if send_rate:
        text += f"rate_per_second = {send_rate}\n"
    if store_url:
        text += f'[store]\nurl = "{store_url}"\n'
    return text


REQUEST_TIMEOUT_S = 30.0


class Failed(Exception):
    """A request that got no usable answer: why, in a word (counted per endpoint)."""


async def request(port, method, path, headers, body=b""):
    """One request on a connection of its own: (status, ETag or None); Failed when the
    connection fails, the answer is empty or not HTTP, or none comes within REQUEST_TIMEOUT_S."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]

    async def exchange():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()

    try:
        data = await asyncio.wait_for(exchange(), REQUEST_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise Failed("timeout") from None
    except OSError:
        raise Failed("connection error") from None
    if not data:
        raise Failed("empty reply")
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    match = re.match(r"HTTP/1\.[01] (\d{3})", head)
    if not match:
        raise Failed("not HTTP")
    etag = re.search(r"(?im)^etag:\s*(\S+)", head)
    return int(match.group(1)), etag.group(1) if etag else None


class Client:
    """Open-loop requests to one endpoint at a fixed rate, until `stop` is set."""

    def __init__(self, name, port, rate, make):
        self.name, self.port, self.rate, self.make = name, port, rate, make
        self.latencies, self.statuses, self.failures = [], {}, {}
        self.planned = []  # the planned time of each answered request, beside its latency

    async def one(self, planned, index):
        method, path, headers, body = self.make(index)
        try:
            status, etag = await request(self.port, method, path, headers, body)
        except Failed as e:
            self.failures[str(e)] = self.failures.get(str(e), 0) + 1
            return
        self.latencies.append((time.monotonic() - planned) * 1000)
        self.planned.append(planned)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if etag and self.name == "rss":
            ETAG[0] = etag

    def failed(self):
        return sum(self.failures.values())

    async def run(self, stop):
        start = time.monotonic()
        tasks, index = [], 0
        while not stop.is_set():
            planned = start + index / self.rate
            delay = planned - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.one(planned, index)))
            index += 1
        await asyncio.gather(*tasks)


ETAG = [None]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure(port, rate, log, site, max_seconds):
    stop = asyncio.Event()
    subscribe_headers = lambda i: {"X-Forwarded-For": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"}
    clients = [
        Client("healthz", port, rate, lambda i: ("GET", "/healthz", {}, b"")),
        Client("rss", port, rate, lambda i: ("GET", "/rss.xml", {}, b"")),
        Client("rss_conditional", port, rate,
               lambda i: ("GET", "/rss.xml", {"If-None-Match": ETAG[0]} if ETAG[0] else {}, b"")),
        Client("subscribe", port, rate,
               lambda i: ("POST", "/subscribe", subscribe_headers(i),
                          f"email=latency{i}%40example.org&name=Bench".encode())),
    ]
    runs = [asyncio.create_task(c.run(stop)) for c in clients]
    config = os.path.join(site, "kurier.toml")
    rebuilds, started = 0, time.monotonic()
    while log.count("digest run done") == 0 and time.monotonic() - started < max_seconds:
        before = log.count("rebuilt")
        with open(config, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r'^description = .*\n', "", text, flags=re.M)
        with open(config, "w", encoding="utf-8") as f:
            f.write(f'description = "Rebuild {rebuilds}"\n' + text)
        while log.count("rebuilt") == before and log.count("digest run done") == 0:
            await asyncio.sleep(0.05)
        rebuilds += 1
    window = time.monotonic() - started
    stop.set()
    await asyncio.gather(*runs)
    return clients, rebuilds, window


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kurier")
    parser.add_argument("corpus")
    parser.add_argument("backend", choices=["sqlite", "postgres"])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=25.0, help="requests per second per endpoint")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--results")
    parser.add_argument("--send-rate", type=int,
                        help="[smtp] rate_per_second of the node (default: none, as fast as it goes)")
    parser.add_argument("--shell-session", action="store_true",
                        help="start the node in this script's session, as from a shell (default: a session of "
                        "its own, as systemd starts a service; see session_yields_to_other_services)")
    parser.add_argument("--samples", help="write every answered request here: UTC time planned, endpoint, "
                        "latency ms (to line the tail up with the daemon's log, kept beside it as FILE.log)")
    args = parser.parse_args()
    args.kurier = os.path.abspath(args.kurier)

    work = tempfile.mkdtemp(prefix="kurier-latency-", dir=os.path.dirname(os.path.abspath(args.corpus)))
    site = os.path.join(work, "site")
    shutil.copytree(args.corpus, site, ignore=shutil.ignore_patterns("public", "subscribers", "hugo*", "layouts"))
    drop_database = lambda: None
    store_url = None
    if args.backend == "postgres":
        store_url, drop_database = postgres_database()
    sink_port, http_port = free_port(), free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", f"127.0.0.1:{sink_port}", "1024"])
    daemon = None
    try:
        with open(os.path.join(site, "list.csv"), "w", encoding="utf-8") as f:
            f.write("email,name\n")
            for i in range(args.recipients):
                f.write(f"reader{i}@example.org,Reader {i}\n")
        with open(os.path.join(site, "kurier.toml"), encoding="utf-8") as f:
            text = f.read()
        # Nothing is imported under the schedule's fire: write the config for the import, then
        # again with the fire time once the list is in.
        placeholder = datetime.datetime(2000, 1, 1)
        with open(os.path.join(site, "kurier.toml"), "w", encoding="utf-8") as f:
            f.write(site_config(text, http_port, sink_port, store_url, placeholder))
        subprocess.run([args.kurier, "--root", site, "subscribers", "import", "list.csv"], check=True,
                       cwd=site, stdout=subprocess.DEVNULL)
        os.remove(os.path.join(site, "list.csv"))
        zone = zoneinfo.ZoneInfo(re.search(r'timezone = "([^"]+)"', text).group(1))
        fire = datetime.datetime.now(zone) + datetime.timedelta(seconds=20)
        with open(os.path.join(site, "kurier.toml"), "w", encoding="utf-8") as f:
            f.write(site_config(text, http_port, sink_port, store_url, fire, args.send_rate))

        log = Log(os.path.join(work, "daemon.log"))
        with open(log.path, "w") as err:
            # `setsid` makes kurier itself (not `time`) the leader of a new session.
            own = [] if args.shell_session else ["setsid"]
            daemon = subprocess.Popen(
                ["/usr/bin/time", "-f", "peak RSS %M KiB", *own, args.kurier, "--root", site, "run"],
                stdout=subprocess.DEVNULL, stderr=err, env=dict(os.environ, RUST_LOG="info"))
        wait_for(lambda: "kurier is running" in log.text(), "start")
        node = int(subprocess.check_output(["pgrep", "-P", str(daemon.pid)]).split()[0])
        with open(f"/proc/{node}/autogroup", encoding="utf-8") as f:
            group = f.read().strip()
        wait_for(lambda: "rebuilt" in log.text() or "kept as they are" in log.text(), "first build")
        wait_for(lambda: "digest due" in log.text(), "digest fire", timeout=120)
        load_before = open("/proc/loadavg").read().split()[:3]
        clients, rebuilds, window = asyncio.run(measure(http_port, args.rate, log, site, args.max_seconds))
        load_after = open("/proc/loadavg").read().split()[:3]
        done = re.search(r"digest run done.*", log.text())
        # The deliveries by state as the window closed (the node may still be sending).
        status = subprocess.run([args.kurier, "--root", site, "digest", "status"], cwd=site,
                                capture_output=True, text=True).stdout
        status = next((line for line in status.splitlines() if line.startswith("issue ")), "?")
        os.kill(node, signal.SIGTERM)
        daemon.wait(timeout=120)
        peak = re.search(r"peak RSS (\d+) KiB", log.text())
        daemon_log = log.text()
    finally:
        if daemon and daemon.poll() is None:
            daemon.kill()
        sink.terminate()
        sink.wait()
        drop_database()
        shutil.rmtree(work, ignore_errors=True)

    print(f"backend {args.backend}: {args.recipients} recipients, {args.rate:g} requests/s per endpoint, "
          f"window {window:.1f} s ({'until the digest run was done' if done else 'cut at --max-seconds'}), "
          f"{rebuilds} full rebuilds in it")
    where = "this script's session" if args.shell_session else "a session of its own"
    print(f"node started in {where}; its scheduling group: {group}")
    print(f"load average before / after: {' '.join(load_before)} / {' '.join(load_after)}")
    print(f"digest: {done.group(0) if done else 'not done in the window'}")
    print(f"digest status at the end of the window: {status}")
    print(f"kurier run peak RSS: {peak.group(1) if peak else '?'} KiB")
    if args.samples:
        # The clients plan on the monotonic clock; the daemon logs UTC.
        to_wall = time.time() - time.monotonic()
        with open(args.samples, "w", encoding="utf-8") as f:
            for c in clients:
                for planned, latency in zip(c.planned, c.latencies):
                    stamp = datetime.datetime.fromtimestamp(planned + to_wall, datetime.timezone.utc)
                    f.write(f"{stamp.isoformat(timespec='milliseconds')} {c.name} {latency:.1f}\n")
        with open(args.samples + ".log", "w", encoding="utf-8") as f:
            f.write(daemon_log)
    results = open(args.results, "a") if args.results else None
    for c in clients:
        failures = ", ".join(f"{why}: {n}" for why, n in sorted(c.failures.items())) or "none"
        if not c.latencies:
            print(f"{c.name}: no answers; failed requests: {failures}")
            print(f"TARGET latency {args.backend} {c.name} p99 ms none <= {TARGET_P99_MS:g} FAIL (no answer)")
            continue
        p50, p99, top = percentile(c.latencies, 50), percentile(c.latencies, 99), max(c.latencies)
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(c.statuses.items()))
        print(f"{c.name:16s} n={len(c.latencies):5d}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {top:7.1f} ms"
              f"  mean {statistics.mean(c.latencies):6.1f} ms  ({codes}; failed requests: {failures})")
        # A request that got no answer is no fast answer: any failure fails the target.
        verdict = "PASS" if p99 <= TARGET_P99_MS and not c.failed() else "FAIL"
        why = f" ({c.failed()} of {c.failed() + len(c.latencies)} requests failed)" if c.failed() else ""
        print(f"TARGET latency {args.backend} {c.name} p99 ms {p99:.1f} <= {TARGET_P99_MS:g} {verdict}{why}")
        if results:
            for label, value in (("p50_ms", p50), ("p99_ms", p99), ("max_ms", top)):
                results.write(f"latency.{args.backend}.{c.name}.{label} {value:.2f}\n")
            results.write(f"latency.{args.backend}.{c.name}.failed {c.failed()}\n")
    if peak and results:
        results.write(f"latency.{args.backend}.kurier_run.peak_mib {int(peak.group(1)) / 1024:.1f}\n")


if __name__ == "__main__":
    main()
