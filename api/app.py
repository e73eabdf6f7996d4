"""The FastAPI application and how it is served (``petition api``, ``petition dev``).

OpenAPI is at ``/openapi.json``, the interactive docs at ``/docs``. Each request gets
a request id (the caller's ``X-Request-ID`` when it is a plain id, else a new one),
returned in ``X-Request-ID`` and problem bodies, logged with the method, route,
status and duration: never a body, a query string or a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import structlog
import swagger_ui_bundle  # type: ignore[import-untyped]
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from petitionflow.identity.issuer import DevIssuer

from . import problems
from .context import ApiContext
from .petitioner import STATIC, PetitionerChannel
from .petitioner import router as petitioner_router
from .staff import router as staff_router

log = structlog.get_logger("petitionflow.api")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def create_app(
    ctx: ApiContext,
    *,
    petitioner: PetitionerChannel | None = None,
    routers: tuple[Any, ...] = (),
) -> FastAPI:
    app = FastAPI(
        docs_url=None,  # served below from the package, not a CDN: nothing is downloaded
        redoc_url=None,
        title="petitionflow API",
        version="1",
        description=(
            "Register petitions, send case commands, read cases and reports. Every call "
            "carries a bearer token; the actor of every command is the token's person and "
            "unit. Errors are RFC 9457 problem details whose `code` is the same code a "
            "Temporal caller sees."
        ),
    )
    app.state.ctx = ctx
    app.state.petitioner = petitioner
    problems.install(app)
    app.include_router(staff_router)
    app.include_router(petitioner_router)
    # follow_symlink: an editable install links the files from the checkout
    app.mount(
        "/petition-assets",
        StaticFiles(directory=STATIC, follow_symlink=True),
        name="petition-assets",
    )
    for router in routers:
        app.include_router(router)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        rid = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        request.state.request_id = rid
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        route = request.scope.get("route")
        log.info(
            "request",
            request_id=rid,
            method=request.method,
            route=getattr(route, "path", "(none)"),
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
            caller=getattr(request.state, "caller", None),
        )
        return response

    app.mount(
        "/docs-assets",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="docs-assets",
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="petitionflow API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def issuer_app(issuer: DevIssuer, base_url: str) -> Starlette:
    """The development issuer's public side: its discovery document and key set."""

    async def jwks(_: Any) -> JSONResponse:
        return JSONResponse(issuer.jwks())

    async def discovery(_: Any) -> JSONResponse:
        return JSONResponse(issuer.discovery(f"{base_url}/jwks.json"))

    return Starlette(
        routes=[
            Route("/jwks.json", jwks),
            Route("/.well-known/openid-configuration", discovery),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn without its own SIGINT/SIGTERM handlers: the process that serves the app
    (``petition api``, ``petition dev``) handles them and calls ``Served.stop``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Served:
    """An ASGI app served by uvicorn on this event loop until ``stop``."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
        )
        self.server = _Server(config)
        self.task: asyncio.Task[None] | None = None
        self.host, self.port = host, port

    async def start(self) -> Served:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()  # the bind failed: raise it
                raise OSError(f"cannot serve on {self.host}:{self.port}")
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def serving(app: Any, host: str, port: int) -> AsyncIterator[Served]:
    served = await Served(app, host, port).start()
    try:
        yield served
    finally:
        await served.stop()
