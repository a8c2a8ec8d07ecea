#!/usr/bin/env python3
"""notify_receiver.py - a webhook receiver for the notify tests.

Listens on 127.0.0.1 (a free port, or PORT when given), prints "PORT <n>"
on stdout once it listens, and appends one JSON line per request to LOG
(method, path, headers, body, and t: when it came, Unix seconds) before it
answers. What it answers depends on the path:

  /ok...          200
  /flaky/<name>   500 the first time a path is asked, then 200
  /busy           429 with Retry-After: 7
  /busydate       429 with Retry-After: an HTTP date 30 s ahead
  /gone           410
  /sleep/<ms>     waits <ms> milliseconds, then 200
  anything else   404

Usage: notify_receiver.py LOG [PORT]   (stops on SIGTERM)
"""
import json
import signal
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]
lock = threading.Lock()
seen = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The answer goes out in two writes (headers, body): with Nagle's
    # algorithm the second waits for the client's delayed ACK of the first,
    # ~40 ms per request on a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        rec = {"method": "POST", "path": self.path, "headers": dict(self.headers.items()), "body": body,
               "t": time.time()}
        with lock:
            first = self.path not in seen
            seen.add(self.path)
            with open(LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
        status, extra = 404, {}
        if self.path.startswith("/ok"):
            status = 200
        elif self.path.startswith("/flaky/"):
            status = 500 if first else 200
        elif self.path == "/busy":
            status, extra = 429, {"Retry-After": "7"}
        elif self.path == "/busydate":
            status, extra = 429, {"Retry-After": formatdate(time.time() + 30, usegmt=True)}
        elif self.path == "/gone":
            status = 410
        elif self.path.startswith("/sleep/"):
            time.sleep(int(self.path[7:]) / 1000.0)
            status = 200
        self.send_response(status)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def main():
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
