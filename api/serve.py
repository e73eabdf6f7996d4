"""Running the API: ``petition api`` (production, compose), ``petition dev`` (with its
own token issuer) and ``petition token`` (a token from that issuer)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from petitionflow.activities.notify import LogSender
from petitionflow.client import PetitionClient
from petitionflow.config import Settings
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.requests import RequestLog
from petitionflow.identity.issuer import DevIssuer
from petitionflow.identity.tokens import TokenVerifier
from petitionflow.security.keys import KeyRing
from petitionflow.security.sealing import Sealer

from .app import Served, create_app, issuer_app
from .context import ApiContext
from .petitioner import PetitionerChannel

DEV_REGION = "新疆维吾尔自治区"


def dev_issuer_file(settings: Settings) -> Path:
    return settings.data_dir / "issuer.json"


def context(
    temporal: Client,
    store: EventStore,
    sealer: Sealer,
    verifier: TokenVerifier,
    task_queue: str,
) -> ApiContext:
    return ApiContext(
        petitions=PetitionClient(temporal, task_queue=task_queue, store=store, sealer=sealer),
        store=store,
        verifier=verifier,
        requests=RequestLog(store.engine),
    )


@dataclass
class DevApi:
    """The API and its development issuer, served by ``petition dev``."""

    api: Served
    issuer_server: Served
    issuer: DevIssuer

    async def stop(self) -> None:
        await self.api.stop()
        await self.issuer_server.stop()


async def start_dev_api(
    settings: Settings,
    temporal: Client,
    store: EventStore,
    sealer: Sealer,
    ring: KeyRing,
    *,
    api_port: int,
    issuer_port: int,
    host: str = "127.0.0.1",
) -> DevApi:
    base = f"http://{host}:{issuer_port}"
    issuer = DevIssuer.load_or_create(dev_issuer_file(settings), issuer=base)
    issuer_server = await Served(issuer_app(issuer, base), host, issuer_port).start()
    verifier = TokenVerifier(
        issuer=issuer.issuer,
        audience=settings.oidc_audience,
        jwks_url=f"{base}/jwks.json",
        leeway_seconds=settings.oidc_leeway,
    )
    ctx = context(temporal, store, sealer, verifier, settings.task_queue)
    channel = PetitionerChannel(ctx.petitions, store, ring, LogSender(show_codes=True))
    try:
        api = await Served(create_app(ctx, petitioner=channel), host, api_port).start()
    except BaseException:
        await issuer_server.stop()
        raise
    return DevApi(api, issuer_server, issuer)


async def run_api(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.main import CliError, _keys, _settings, _temporal
    from petitionflow.workers import logs

    settings = _settings(args)
    if not settings.oidc_issuer or not settings.oidc_jwks_url:
        raise CliError(
            "set PETITIONFLOW_OIDC_ISSUER and PETITIONFLOW_OIDC_JWKS_URL to the token "
            "issuer and its key set (JWKS) URL; in development `petition dev` serves the "
            "API with its own issuer"
        )
    keys = _keys(args)
    logs.configure()
    verifier = TokenVerifier(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        jwks_url=settings.oidc_jwks_url,
        leeway_seconds=settings.oidc_leeway,
    )
    temporal = await _temporal(args, keys)
    ctx = context(temporal, store, Sealer(keys.sealing), verifier, settings.task_queue)
    # no SMS gateway yet: the log line names the case and the masked phone, never the code
    channel = PetitionerChannel(ctx.petitions, store, keys.payload, LogSender())
    host = args.host or settings.api_host
    port = args.port or settings.api_port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        served = await Served(create_app(ctx, petitioner=channel), host, port).start()
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    print(f"API: {served.url}/docs (OpenAPI at {served.url}/openapi.json)", flush=True)
    await stop.wait()
    await served.stop()
    return 0


def print_token(args: argparse.Namespace) -> int:
    from petitionflow.cli.main import CliError, _settings
    from petitionflow.identity.roles import Role

    settings = _settings(args)
    known = {r.value for r in Role}
    wrong = [r for r in args.role if r not in known]
    if wrong:
        raise CliError(f"unknown role(s) {', '.join(wrong)}; known: {', '.join(sorted(known))}")
    path = dev_issuer_file(settings)
    issuer = DevIssuer.load_or_create(path, issuer="http://127.0.0.1:8090")
    juris = [p for p in (args.juris or DEV_REGION).split("/") if p]
    if not 1 <= len(juris) <= 4:
        raise CliError("--juris: 1 to 4 places, top first, separated by /")
    print(
        issuer.token(
            unit=args.unit,
            roles=args.role,
            jurisdiction=juris,
            person=args.person,
            client=args.client,
            audience=settings.oidc_audience,
            ttl_seconds=args.ttl,
        )
    )
    return 0
