"""A scriptable SMTP sink for kurier's integration tests.

Usage: python tests/smtp_sink.py --dir DIR [--rules FILE] [--processes N]

Listens on 127.0.0.1 on a free port chosen by the OS, prints one line `PORT <number>` to
stdout as soon as it listens, then serves until SIGTERM or SIGINT (exit status 0).
No auth, no TLS, messages up to 10 MB, 8BITMIME and SMTPUTF8 accepted (`--no-smtputf8`: SMTPUTF8
not offered, as many servers do not).

Every accepted message is stored once, whatever its number of recipients, as
DIR/NNNNNN.eml (the exact bytes received after DATA, CRLF line ends as on the wire) and
DIR/NNNNNN.json ({"mail_from", "rcpt_tos", "peer", "helo": the client's EHLO name, "arrived":
when the message was complete}), numbered from 000001 in order of
acceptance. Both are written to a temporary ".name" in DIR and renamed into place, the
.json first and the .eml last: a reader that sees the .eml can read the .json too.
Every RCPT attempt appends `<address> <code> <when>` to DIR/rcpt.log (`stall` for a stalled one).
Times (`arrived`, `<when>`) are seconds on the sink's monotonic clock: only their differences
mean something, e.g. the spacing of messages a rate limit makes.

DIR/sessions holds the number of SMTP sessions open at the sink (`open N`), rewritten when one
begins or ends; a session ends when its client has gone and its last command is handled, so at
`open 0` nothing more can arrive from a client that has exited.

The optional rules file is JSON, re-read on every RCPT and DATA command, so a test can change
behaviour while the sink runs; a missing or invalid file means no rules:

    {"rcpt": {"someone@example.org": {"code": 451, "times": 2, "message": "4.7.1 Try again"},
              "bad@example.org": {"code": 550, "times": -1, "message": "5.1.1 No such user"}},
     "stall_rcpt": ["slow@example.org"],
     "data_delay_ms": 0}

- rcpt: RCPT TO that address (case-insensitive) gets `<code> <message>` the first `times`
  times, then is accepted; `times: -1` means always. Counters live as long as the process.
- stall_rcpt: RCPT TO one of these addresses never gets an answer; the client must time out.
- data_delay_ms: wait that long before answering 250 to DATA.
- hold_data: while true, every message waits at the end of DATA, unanswered and not stored;
  set it false to let them go (a test's way to have mail "being sent" for as long as it likes).
- data: {"address": {"code": 550, "message": "…"}}: the end of DATA of a message to that address
  gets `<code> <message>` (a content filter's refusal), always.

With `--tls-cert CERT --tls-key KEY` the sink speaks TLS: STARTTLS (required before MAIL) with
`--tls starttls`, TLS from the first byte with `--tls implicit`.

With `--processes N` (for benchmarks, where one Python process would be the bottleneck) N
processes accept connections on the one port, each with its own event loop: messages are then
named P-NNNNNN (P the process, 0 to N-1; numbered in order of acceptance within it), the
session count is DIR/sessions-P, and an `rcpt` rule's counter is each process's own.
SIGTERM or SIGINT to the first process (the one that printed the port) stops them all.

With `--auth USER:PASSWORD` the sink requires AUTH (PLAIN or LOGIN, without TLS) and accepts
only those credentials: mail from an unauthenticated client is refused with 530.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

MAX_SIZE = 10 * 1024 * 1024
STALL_SECONDS = 3600


def load_rules(path):
    """The rules file as a dict; {} when there is none or it is not valid."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            rules = json.load(f)
    except (OSError, ValueError):
        return {}
    return rules if isinstance(rules, dict) else {}


class Sink:
    def __init__(self, directory, rules_path, process=None):
        self.dir = directory
        self.rules_path = rules_path
        # Of a sink in several processes: what its file names start with.
        self.prefix = "" if process is None else f"{process}-"
        self.sessions_file = "sessions" if process is None else f"sessions-{process}"
        self.sequence = 0
        self.rejections = {}  # lower-cased address -> times rejected by an `rcpt` rule
        self.open_sessions = 0
        self.sessions_changed(0)

    def log_rcpt(self, address, code):
        with open(os.path.join(self.dir, "rcpt.log"), "a", encoding="utf-8") as log:
            log.write(f"{address} {code} {time.monotonic():.6f}\n")
            log.flush()

    def sessions_changed(self, by):
        self.open_sessions += by
        self.write_atomically(self.sessions_file, f"open {self.open_sessions}\n".encode())

    def write_atomically(self, name, data):
        temporary = os.path.join(self.dir, "." + name + ".tmp")
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, os.path.join(self.dir, name))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rules = load_rules(self.rules_path)
        key = address.lower()
        stalled = rules.get("stall_rcpt")
        if isinstance(stalled, list) and key in (str(a).lower() for a in stalled):
            self.log_rcpt(address, "stall")
            await asyncio.sleep(STALL_SECONDS)
        rcpt_rules = rules.get("rcpt")
        rcpt_rules = rcpt_rules if isinstance(rcpt_rules, dict) else {}
        rule = {k.lower(): v for k, v in rcpt_rules.items()}.get(key)
        if isinstance(rule, dict):
            times = rule.get("times", -1)
            done = self.rejections.get(key, 0)
            if times == -1 or done < times:
                self.rejections[key] = done + 1
                code = rule.get("code", 550)
                self.log_rcpt(address, code)
                return f"{code} {rule.get('message', 'Rejected by the sink rules')}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        self.log_rcpt(address, 250)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        while load_rules(self.rules_path).get("hold_data") is True:
            await asyncio.sleep(0.02)
        delay = load_rules(self.rules_path).get("data_delay_ms", 0)
        if isinstance(delay, (int, float)) and delay > 0:
            await asyncio.sleep(delay / 1000)
        data_rules = load_rules(self.rules_path).get("data")
        data_rules = {k.lower(): v for k, v in data_rules.items()} if isinstance(data_rules, dict) else {}
        for rcpt in envelope.rcpt_tos:
            rule = data_rules.get(rcpt.lower())
            if isinstance(rule, dict):
                return f"{rule.get('code', 550)} {rule.get('message', 'Rejected after DATA by the sink rules')}"
        self.sequence += 1
        name = f"{self.prefix}{self.sequence:06d}"
        host, port = session.peer[:2]
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "peer": f"{host}:{port}",
            "helo": session.host_name,
            "arrived": time.monotonic(),
        }
        self.write_atomically(name + ".json", json.dumps(meta, indent=2).encode("utf-8"))
        self.write_atomically(name + ".eml", envelope.original_content)
        return f"250 OK: queued as {name}"


def authenticator_for(credentials):
    """An aiosmtpd authenticator accepting exactly `user:password`."""
    user, _, password = credentials.partition(":")

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok)

    return authenticate


class CountedSMTP(SMTP):
    """aiosmtpd's SMTP, telling the sink when a session begins and ends."""

    def __init__(self, sink, *args, **kwargs):
        super().__init__(sink, *args, **kwargs)
        self.sink = sink

    async def _handle_client(self):
        self.sink.sessions_changed(+1)
        try:
            await super()._handle_client()
        finally:
            self.sink.sessions_changed(-1)


async def serve(directory, rules_path, credentials=None, tls=None, cert=None, key=None, smtputf8=True,
                listening=None, process=None):
    """Serves until SIGTERM or SIGINT: on a new port it prints, or on the socket `listening`
    (shared by the processes of `--processes`, `process` being this one's number)."""
    sink = Sink(directory, rules_path, process)
    loop = asyncio.get_running_loop()
    context = None
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    starttls = dict(tls_context=context, require_starttls=True) if tls == "starttls" else {}
    auth = {}
    if credentials:
        # Plain-text AUTH is what the test wants; aiosmtpd warns about it on every connection.
        warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
        auth = dict(
            authenticator=authenticator_for(credentials),
            auth_required=True,
            auth_require_tls=False,
        )
    server = await loop.create_server(
        lambda: CountedSMTP(
            sink,
            hostname="smtp-sink.localhost",
            data_size_limit=MAX_SIZE,
            enable_SMTPUTF8=smtputf8,
            timeout=STALL_SECONDS,
            **auth,
            **starttls,
        ),
        **(dict(sock=listening) if listening else dict(host="127.0.0.1", port=0, backlog=512)),
        ssl=context if tls == "implicit" else None,
    )
    if not listening:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    # The other processes of `--processes` stop when the first tells them (SIGTERM).
    for signum in (signal.SIGTERM,) if process else (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()  # open connections are cancelled when asyncio.run returns


def main():
    parser = argparse.ArgumentParser(description="SMTP sink for kurier's integration tests")
    parser.add_argument("--dir", required=True, help="where to store the received messages")
    parser.add_argument("--rules", help="JSON rules file, re-read on every RCPT and DATA")
    parser.add_argument("--auth", help="USER:PASSWORD to require AUTH with")
    parser.add_argument("--tls", choices=["starttls", "implicit"], help="speak TLS")
    parser.add_argument("--tls-cert", help="PEM certificate chain for --tls")
    parser.add_argument("--tls-key", help="PEM private key for --tls")
    parser.add_argument("--no-smtputf8", action="store_true", help="do not offer SMTPUTF8 (RFC 6531)")
    parser.add_argument("--processes", type=int, default=1, help="processes accepting on the one port")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    options = (args.dir, args.rules, args.auth, args.tls, args.tls_cert, args.tls_key, not args.no_smtputf8)
    if args.processes <= 1:
        asyncio.run(serve(*options))
        return 0
    listening = socket.create_server(("127.0.0.1", 0), backlog=512)
    print(f"PORT {listening.getsockname()[1]}", flush=True)
    children = []
    for process in range(1, args.processes):
        child = os.fork()
        if child == 0:
            # A child stops with the first process, not with a terminal's signal to the group.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            asyncio.run(serve(*options, listening=listening, process=process))
            os._exit(0)
        children.append(child)
    try:
        asyncio.run(serve(*options, listening=listening, process=0))
    finally:
        for child in children:
            os.kill(child, signal.SIGTERM)
        for child in children:
            os.waitpid(child, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
