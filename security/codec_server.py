"""The codec server the Temporal Web UI calls to show cases in plain text.

``POST /encode`` and ``POST /decode`` take and return ``{"payloads": [...]}`` (the
proto JSON of Temporal payloads). Every request needs the bearer token, either as
``Authorization: Bearer <token>`` (production: the UI passes the user's access
token, or a proxy adds it) or as the first path segment, ``/<token>/decode``, which is
how ``petition dev`` points its single-user UI at it. Anything else gets 401.
Browsers may call it only from the configured UI origins (CORS).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from .codec import EncryptionCodec

MAX_BODY = 8 * 1024 * 1024


class CodecServer:
    def __init__(
        self,
        codec: EncryptionCodec,
        token: str,
        origins: Iterable[str],
        host: str = "127.0.0.1",
        port: int = 8081,
    ) -> None:
        if len(token) < 16:
            raise ValueError("the codec server token must be at least 16 characters")
        self.codec, self.token, self.origins = codec, token, frozenset(origins)
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> CodecServer:
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="codec-server", daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _authorized(self, path: str, header: str | None) -> tuple[bool, str]:
        prefix = f"/{self.token}/"
        if path.startswith(prefix):
            return True, "/" + path[len(prefix) :]
        if header and header.startswith("Bearer "):
            return hmac.compare_digest(header[7:].strip(), self.token), path
        return False, path

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _cors(self) -> None:
                origin = self.headers.get("Origin")
                if origin in server.origins:
                    self.send_header("Access-Control-Allow-Origin", origin)
                    self.send_header("Access-Control-Allow-Credentials", "true")
                    self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                    self.send_header(
                        "Access-Control-Allow-Headers", "Content-Type, Authorization, X-Namespace"
                    )
                    self.send_header("Vary", "Origin")

            def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self._cors()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_OPTIONS(self) -> None:  # CORS preflight: only the UI's origin
                allowed = self.headers.get("Origin") in server.origins
                self.send_response(HTTPStatus.NO_CONTENT if allowed else HTTPStatus.FORBIDDEN)
                self._cors()
                self.end_headers()

            def do_POST(self) -> None:
                ok, path = server._authorized(self.path, self.headers.get("Authorization"))
                if not ok:
                    self._reply(
                        HTTPStatus.UNAUTHORIZED, {"error": "a valid bearer token is required"}
                    )
                    return
                if path not in ("/encode", "/decode"):
                    self._reply(HTTPStatus.NOT_FOUND, {"error": "use /encode or /decode"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
                    return
                try:
                    payloads = json_format.ParseDict(
                        json.loads(self.rfile.read(length)), Payloads()
                    )
                    codec = server.codec
                    run = codec.encode if path == "/encode" else codec.decode
                    result = asyncio.run(run(list(payloads.payloads)))
                except Exception as exc:  # a bad body or an unknown key: say which
                    self._reply(HTTPStatus.BAD_REQUEST, {"error": f"{type(exc).__name__}: {exc}"})
                    return
                self._reply(HTTPStatus.OK, json_format.MessageToDict(Payloads(payloads=result)))

        return Handler
