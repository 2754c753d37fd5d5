"""The daemon's `/healthz` and `/metrics` on `[metrics] listen`, in a thread of its own.

The standard library's threading HTTP server is enough for two read-only endpoints that a
monitoring system polls; the web desk (Starlette) is a separate process and need not run.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine

from pipeline.config import Config
from pipeline.config.web import split_listen
from pipeline.errors import ConfigError
from pipeline.monitor import counters, health
from pipeline.monitor.dbgauges import DatabaseCollector

log = logging.getLogger("triaje.metrics")


class MonitorServer:
    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config = engine, config
        self.started = time.time()
        self.collector = DatabaseCollector(engine, config.classifier.models_dir)
        listen = config.metrics.listen or "127.0.0.1:9325"
        host, port = split_listen(listen)
        try:
            self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:
            raise ConfigError("metrics.listen", f"cannot listen on {listen}: {exc.strerror or exc}",
                              "choose a free port, or stop what uses it", config.source) from exc
        self.httpd.daemon_threads = True
        self.threads = [threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True),
                        threading.Thread(target=self.collector.run, name="metrics-db", daemon=True)]

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> MonitorServer:
        self.collector.refresh()
        counters.REGISTRY.register(self.collector)
        for thread in self.threads:
            thread.start()
        log.info("metrics on http://%s:%d/metrics and /healthz", *self.httpd.server_address[:2])
        return self

    def stop(self) -> None:
        self.collector.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        counters.REGISTRY.unregister(self.collector)

    def respond(self, path: str) -> tuple[int, str, bytes]:
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(counters.REGISTRY)
        if path == "/healthz":
            status, body = health.check(self.engine, self.config, self.started)
            return status, "application/json", json.dumps(body).encode()
        return 404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n"


def _handler(server: MonitorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, kind, body = server.respond(self.path.split("?", 1)[0])
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler
