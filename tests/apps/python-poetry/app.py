"""A Poetry project (package-mode = false): its one dependency, itsdangerous, comes from poetry.lock."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from itsdangerous import URLSafeSerializer

SIGNED = URLSafeSerializer("sample-secret").dumps("poetry")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"python-poetry sample, signed {URLSafeSerializer('sample-secret').loads(SIGNED)}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
