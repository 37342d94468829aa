"""A uv project: its one dependency (itsdangerous) comes from uv.lock; served with the standard library."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from itsdangerous import URLSafeSerializer

SIGNED = URLSafeSerializer("sample-secret").dumps("uv")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"python-uv sample, signed {URLSafeSerializer('sample-secret').loads(SIGNED)}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
