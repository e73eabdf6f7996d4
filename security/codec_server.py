"""The codec server the Temporal Web UI and the ``temporal`` CLI call to show cases in
plain text (the remote codec protocol), on aiohttp.

- ``POST /encode`` and ``POST /decode`` take and return ``{"payloads": [...]}``, the
  proto JSON of Temporal payloads. Only the path decides which: a query string
  (the UI adds ``?preserveStorageRefs=true``) is ignored.
- Every encode or decode needs the bearer token: ``Authorization: Bearer <token>``
  (production: a proxy or the caller adds it), or the token as the first path
  segment, ``/<token>/decode``, which is how ``petition dev`` points its single-user
  UI and the CLI at it. Both are compared in constant time. Anything else gets 401.
- ``X-Namespace`` (the UI and the CLI send it): the server holds one deployment's
  keys, so it serves only its configured namespaces. A request naming another one
  gets 403 with the reason; one without the header is served (the header is optional
  in the protocol).
- ``GET /health`` answers ``{"status": "ok"}`` without a token and says nothing else.
- A body larger than ``max_body`` gets 413. Every error is ``{"error": "..."}``.
- **Operator scopes** (with a ``verifier``, production): the Temporal UI forwards the
  operator's own access token (``TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true``) as
  ``Authorization: Bearer <JWT>``, beside the server's token in the path. The token is
  verified like the HTTP API's (``identity/tokens.py``), and a payload is decrypted
  only when its case's place (the ``petitionflow-scope`` the codec writes beside the
  ciphertext) lies in the operator's jurisdiction. Others come back as they were, still
  ciphertext; so do an accusation's (``petitionflow-sealed``), for every operator, and
  payloads that name no place (written before scopes), except for operators of the
  whole region.
- Browsers may call it only from the configured UI origins (CORS, preflight included).
- One JSON log line per request (``petitionflow.codec``): method, route (never the
  token), status, payload count, namespace, duration. Never a payload, never a token;
  aiohttp's own access log, which would print the path, is off.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

import structlog
from aiohttp import hdrs, web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from petitionflow.domain.values import Jurisdiction
from petitionflow.identity.roles import READ_CASE
from petitionflow.identity.tokens import IdentityError, Principal, TokenVerifier

from .codec import DECRYPTED, ENCODING, EncryptionCodec, payload_scope

MAX_BODY = 8 * 1024 * 1024
ALLOWED_HEADERS = ("Content-Type", "Authorization", "X-Namespace")
ACTIONS = ("encode", "decode")

log = structlog.get_logger("petitionflow.codec")

# The key under which a request carries its log fields (aiohttp's per-request storage).
LOG_FIELDS = web.RequestKey("petitionflow.log", dict[str, Any])


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CodecServer:
    """``await CodecServer(...).start()`` inside a running loop; ``await stop()`` after.

    ``port=0`` takes a free port; ``server.port`` says which.
    """

    def __init__(
        self,
        codec: PayloadCodec,
        token: str,
        origins: Iterable[str],
        host: str = "127.0.0.1",
        port: int = 8081,
        namespaces: Iterable[str] = ("default",),
        max_body: int = MAX_BODY,
        verifier: TokenVerifier | None = None,
    ) -> None:
        if len(token) < 16:
            raise ValueError("the codec server token must be at least 16 characters")
        self.codec = codec
        self.verifier = verifier
        if verifier is not None and not isinstance(codec, EncryptionCodec):
            raise ValueError("operator scopes need the EncryptionCodec")
        self._token = token.encode()
        self.origins = frozenset(origins)
        self.namespaces = frozenset(namespaces)
        self.host, self._port, self.max_body = host, port, max_body
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    async def start(self) -> CodecServer:
        # access_log=None: aiohttp's access log prints the path, and the path may
        # hold the token. The middleware logs each request instead.
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self._port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> CodecServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- the application --------------------------------------------------------------

    def _build_app(self) -> web.Application:
        # client_max_size makes aiohttp refuse a larger body while reading it (413);
        # the handler turns that into a JSON error.
        app = web.Application(client_max_size=self.max_body, middlewares=[self._middleware])
        app.router.add_get("/health", self._health)
        app.router.add_route("OPTIONS", "/{path:.*}", self._preflight)
        app.router.add_post("/{path:.*}", self._codec)
        return app

    def _token_ok(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token)

    def _cors(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin in self.origins:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        response.headers[hdrs.VARY] = "Origin"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        fields: dict[str, Any] = {"route": "(unmatched)", "payloads": None}
        request[LOG_FIELDS] = fields  # the handlers add to it
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # aiohttp's own, e.g. 405: answer in JSON too
            response = _error(exc.status, exc.reason)
        self._cors(request, response)
        log.info(
            "codec request",
            method=request.method,
            status=response.status,
            namespace=request.headers.get("X-Namespace"),
            origin=request.headers.get(hdrs.ORIGIN),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **fields,
        )
        return response

    async def _health(self, request: web.Request) -> web.StreamResponse:
        request[LOG_FIELDS]["route"] = "/health"
        return web.json_response({"status": "ok"})

    async def _preflight(self, request: web.Request) -> web.StreamResponse:
        request[LOG_FIELDS]["route"] = _route(request.match_info["path"])
        if request.headers.get(hdrs.ORIGIN) not in self.origins:
            return _error(403, "this origin may not call the codec server")
        response = web.Response(status=204)
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "POST, GET, OPTIONS"
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ", ".join(ALLOWED_HEADERS)
        response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
        return response

    async def _codec(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        request[LOG_FIELDS]["route"] = _route(path)
        *prefix, action = path.split("/")
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        if prefix:  # the token as the first path segment: /<token>/decode
            request[LOG_FIELDS]["auth"] = "path"
            authorized = len(prefix) == 1 and self._token_ok(prefix[0])
        else:
            request[LOG_FIELDS]["auth"] = "header" if header else "none"
            scheme, _, credential = header.partition(" ")
            authorized = scheme.lower() == "bearer" and self._token_ok(credential.strip())
        if not authorized:
            return _error(401, "a valid bearer token is required")
        operator: Principal | None = None
        if self.verifier is not None:
            scheme, _, credential = header.partition(" ")
            if not prefix or scheme.lower() != "bearer" or not credential.strip():
                return _error(
                    401,
                    "this codec server shows each operator the cases in their scope: send "
                    "the operator's access token (the UI's TEMPORAL_CODEC_PASS_ACCESS_TOKEN)",
                )
            try:
                operator = await self.verifier.verify(credential.strip())
            except IdentityError as exc:
                return _error(401, f"{exc.code}: {exc.message}")
            if not operator.scopes_for(READ_CASE):
                return _error(403, "the operator's roles do not allow reading cases")
            request[LOG_FIELDS]["operator"] = operator.subject
        if action not in ACTIONS:
            return _error(404, "POST to /encode or /decode")
        namespace = request.headers.get("X-Namespace")
        if namespace is not None and namespace not in self.namespaces:
            return _error(
                403,
                f"this codec server holds the keys of namespace(s) "
                f"{', '.join(sorted(self.namespaces))}, not {namespace!r}",
            )
        if (request.content_length or 0) > self.max_body:
            return _too_large(self.max_body)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:  # no or a wrong Content-Length
            return _too_large(self.max_body)
        try:
            payloads = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError) as exc:
            return _error(400, f"the body is not a Payloads JSON object: {type(exc).__name__}")
        request[LOG_FIELDS]["payloads"] = len(payloads.payloads)
        run: Callable[[Sequence[Payload]], Coroutine[Any, Any, list[Payload]]] = (
            self.codec.encode if action == "encode" else self.codec.decode
        )
        if operator is not None and action == "decode":
            run = self._scoped(operator, request)
        try:
            result = await run(list(payloads.payloads))
        except Exception as exc:  # an unknown key or a tampered payload: say which kind
            return _error(422, f"cannot {action} the payloads: {type(exc).__name__}")
        for p in result:
            # the worker's own mark of a decrypted input: a payload with metadata the UI
            # and the CLI do not know is shown raw (base64), not as its JSON
            if DECRYPTED in p.metadata:
                del p.metadata[DECRYPTED]
        return web.json_response({"payloads": [json_format.MessageToDict(p) for p in result]})

    def _scoped(
        self, operator: Principal, request: web.Request
    ) -> Callable[[Sequence[Payload]], Coroutine[Any, Any, list[Payload]]]:
        codec = self.codec
        assert isinstance(codec, EncryptionCodec)

        async def decode(payloads: Sequence[Payload]) -> list[Payload]:
            out, withheld = [], 0
            for p in payloads:
                if p.metadata.get("encoding") == ENCODING and not _shown(operator, p):
                    out.append(p)
                    withheld += 1
                else:
                    out.append(codec.decrypt(p))
            request[LOG_FIELDS]["withheld"] = withheld
            return out

        return decode


def _shown(operator: Principal, payload: Payload) -> bool:
    """Whether ``operator`` may read this encrypted payload."""
    scope = payload_scope(payload)
    if scope is None:  # written before scopes: the whole region's operators only
        return operator.jurisdiction.level.value == "region"
    if scope.sealed or not scope.path:
        return False
    try:
        place = Jurisdiction(
            **dict(zip(("region", "prefecture", "county", "township"), scope.path, strict=False))
        )
    except ValueError:
        return False
    return operator.jurisdiction.contains(place)


def _route(path: str) -> str:
    """The request path as logged: never a token, right or wrong, nor anything unknown."""
    *prefix, last = path.split("/")
    head = "/<token>" if len(prefix) == 1 else "/…" if prefix else ""
    return head + "/" + (last if last in (*ACTIONS, "health") else "…")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _too_large(limit: int) -> web.Response:
    return _error(413, f"the body is larger than the codec server's limit of {limit} bytes")
