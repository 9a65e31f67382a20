"""Verifies the DKIM signature of one message with dkimpy, against a key published at one name.

Usage: dkim_verify.py MESSAGE.eml DNS_TXT_RECORD_FILE DOMAIN SELECTOR

The record in DNS_TXT_RECORD_FILE stands for the TXT record at SELECTOR._domainkey.DOMAIN, and
only there: a lookup of any other name finds nothing, as in real DNS, so a signature whose `d=` or
`s=` names another place does not verify. Prints the signed header names (the `h=` tag) on one
line and exits 0 when the signature verifies; prints the reason and exits 1 otherwise.
"""

import sys

import dkim


def main():
    message_path, record_path, domain, selector = sys.argv[1:5]
    message = open(message_path, "rb").read()
    record = open(record_path, "rb").read().strip()
    published_at = f"{selector}._domainkey.{domain}".lower().encode("ascii")
    lookups = []

    def dns(name, timeout=5):
        lookups.append(name)
        return record if name.lower().rstrip(b".") == published_at else None

    signature = dkim.DKIM(message)
    ok = signature.verify(dnsfunc=dns)
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
        looked_up = ", ".join(name.decode("ascii", "replace") for name in lookups)
        print(f"signature does not verify (looked up: {looked_up or 'nothing'}; key at {published_at.decode()})")
        return 1
    return 0


sys.exit(main())
