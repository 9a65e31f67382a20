"""The reference SMTP client: Python's smtplib, CONNECTIONS threads each with one connection,
sending pre-built messages (the .eml files kurier wrote for the same issue) to the sink.
Usage: plain_smtp.py PORT MESSAGES_DIR CONNECTIONS. Prints `messages seconds`."""

import pathlib
import smtplib
import sys
import threading
import time

port, directory, connections = int(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
messages = [p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for p in sorted(directory.glob("*.eml"))]


def work(k):
    client = smtplib.SMTP("127.0.0.1", port)
    for i in range(k, len(messages), connections):
        client.sendmail("bench@example.org", [f"r{i:06d}@example.org"], messages[i])
    client.quit()


started = time.perf_counter()
threads = [threading.Thread(target=work, args=(k,)) for k in range(connections)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(messages), time.perf_counter() - started)
