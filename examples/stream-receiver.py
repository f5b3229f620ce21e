#!/usr/bin/env python3
"""A minimal receiver of a Tessera audit stream (Standard Webhooks 1.0, NDJSON).

It checks each delivery's signature, drops a batch it already has (same webhook-id,
as a retry after a lost acknowledgement resends it), appends the lines to a file and
answers 204. Check the file at any time with

    tessera audit verify --stream FILE --jwks https://tessera.example/.well-known/jwks.json

Usage: STREAM_SECRET=whsec_... python3 stream-receiver.py [PORT] [FILE]
"""

import base64
import hashlib
import hmac
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = base64.b64decode(os.environ["STREAM_SECRET"].removeprefix("whsec_"))
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
FILE = sys.argv[2] if len(sys.argv) > 2 else "audit-copy.ndjson"
TOLERANCE = 300  # seconds, against replays of an old delivery
SEEN_FILE = FILE + ".ids"
seen = set(open(SEEN_FILE).read().split()) if os.path.exists(SEEN_FILE) else set()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        msg_id = self.headers.get("webhook-id", "")
        timestamp = self.headers.get("webhook-timestamp", "0")
        signed = f"{msg_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode()
        offered = [s.split(",", 1)[1] for s in self.headers.get("webhook-signature", "").split()
                   if s.startswith("v1,")]
        fresh = abs(time.time() - int(timestamp)) <= TOLERANCE
        if not fresh or not any(hmac.compare_digest(expected, s) for s in offered):
            self.send_response(401)
            self.end_headers()
            return
        if msg_id not in seen:
            with open(FILE, "ab") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            with open(SEEN_FILE, "a") as ids:
                ids.write(msg_id + "\n")
            seen.add(msg_id)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Receiver).serve_forever()
