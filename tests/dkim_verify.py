"""Verifies the DKIM signature of one message with dkimpy, the key taken from a file.

Usage: dkim_verify.py MESSAGE.eml DNS_TXT_RECORD_FILE

Prints the signed header names (the `h=` tag) on one line and exits 0 when the signature
verifies; prints the reason and exits 1 otherwise.
"""

import sys

import dkim


def main():
    message = open(sys.argv[1], "rb").read()
    record = open(sys.argv[2], "rb").read().strip()
    signature = dkim.DKIM(message)
    ok = signature.verify(dnsfunc=lambda name, timeout=5: record)
    lines = message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(b"dkim-signature:"))
    value = lines[start].split(b":", 1)[1]
    for line in lines[start + 1 :]:
        if not line[:1] in (b" ", b"\t"):
            break
        value += line
    tags = dkim.util.parse_tag_value(value)
    print(tags[b"h"].decode().replace(" ", ""))
    if not ok:
        print("signature does not verify")
        return 1
    return 0


sys.exit(main())
