"""The HTTP API served for a test: its development issuer (JWKS over real HTTP), the
API on uvicorn, and an aiohttp client. Commands go through the real dev server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp

from petitionflow.activities.notify import LogSender
from petitionflow.api.app import Served, create_app, issuer_app
from petitionflow.api.context import ApiContext
from petitionflow.api.petitioner import PetitionerChannel
from petitionflow.eventstore.directory import DirectoryStore
from petitionflow.eventstore.requests import RequestLog
from petitionflow.identity.issuer import DEV_AUDIENCE, DevIssuer
from petitionflow.identity.tokens import TokenVerifier
from testkit.directory import slice_units
from testkit.keys import TEST_KEYS
from testkit.processes import free_port
from tests.temporal import Harness

KASHGAR = ("新疆维吾尔自治区", "喀什地区")
SHUFU = (*KASHGAR, "疏附县")


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any


@dataclass
class ApiStack:
    url: str
    issuer: DevIssuer
    http: aiohttp.ClientSession
    ctx: ApiContext

    def token(
        self,
        unit: str,
        *roles: str,
        juris: Sequence[str] = KASHGAR,
        person: str | None = None,
        client: str | None = None,
        **extra: Any,
    ) -> str:
        return self.issuer.token(
            unit=unit, roles=roles, jurisdiction=juris, person=person, client=client, **extra
        )

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.url + path, json=json, headers=sent) as r:
            body = await r.json(content_type=None) if r.content_length != 0 else None
            return Answer(r.status, body, r.headers)


@contextlib.asynccontextmanager
async def api_stack(
    h: Harness, tmp: Path, routers: tuple[Any, ...] = ()
) -> AsyncIterator[ApiStack]:
    # the unit directory the offices and review units come from
    DirectoryStore(h.store.engine).load(slice_units(), date(2020, 1, 1), "test slice")
    issuer_port = free_port()
    base = f"http://127.0.0.1:{issuer_port}"
    issuer = DevIssuer.load_or_create(tmp / "issuer.json", issuer=base)
    verifier = TokenVerifier(issuer=base, audience=DEV_AUDIENCE, jwks_url=f"{base}/jwks.json")
    ctx = ApiContext(
        petitions=h.client, store=h.store, verifier=verifier, requests=RequestLog(h.store.engine)
    )
    channel = PetitionerChannel(h.client, h.store, TEST_KEYS.payload, LogSender(show_codes=True))
    app = create_app(ctx, petitioner=channel, routers=routers)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(_serve(issuer_app(issuer, base), issuer_port))
        api = await stack.enter_async_context(_serve(app, free_port()))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        yield ApiStack(api.url, issuer, http, ctx)


@contextlib.asynccontextmanager
async def _serve(app: Any, port: int) -> AsyncIterator[Served]:
    served = await Served(app, "127.0.0.1", port).start()
    try:
        yield served
    finally:
        await served.stop()
