"""The production topology as real processes: every petitionflow service of
docker-compose.yml, run as its image runs it, goes through a case's lifecycle.

What is read, not restated: each service's ``command``, ``environment`` (with compose's
``${VAR:-default}`` interpolation), ``env_file`` (``deploy/secrets/NAME`` is read from
``deploy/NAME.example``, its empty secrets filled with generated values and each
``<VARIABLE>`` placeholder with that variable's value), ``depends_on``,
``deploy.replicas``, ``healthcheck``, ``stop_signal`` and ``stop_grace_period``; the
Dockerfile's ``ENTRYPOINT`` and ``ENV``; the login roles from
``deploy/eventstore-db-init.sh``, run with psql as the postgres image runs it. A renamed
variable, command or file in any of them fails here.

How the image is stood in for: the project is built into one wheel and installed with its
dependencies into a fresh venv of Debian's python3.11, as the Dockerfile does. Every
service, and every ``petition`` command an operator types, runs from that venv as user
``nobody`` in a working directory it cannot write, with a home that does not exist. The
Temporal dev server (root's, on free ports) stands in for the cluster at
``temporal:7233``; the local PostgreSQL for ``eventstore-db:5432``, with a database and
roles of this test's own, dropped afterwards. The server's trust authentication accepts
any password, so each URL's password is checked against the role's SCRAM verifier.

Dependencies come from a wheelhouse that ``pip download`` fills once per set of
requirements (pyproject's), kept under the system's temporary folder: a later run builds
and installs only from it (``--no-index``). Delete the folder to resolve anew.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from google.protobuf import json_format
from google.protobuf.message import Message
from psycopg import sql
from sqlalchemy.engine import make_url
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from testkit.processes import DevServer, free_port

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
PG_DSN = os.environ.get(
    "PETITIONFLOW_TEST_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres"
)
PIP = [sys.executable, "-m", "pip"]
WHEELHOUSE = Path(tempfile.gettempdir()) / "petitionflow-wheelhouse"
LABOUR = {"unit": "疏附县人力资源和社会保障局", "person": "王建国"}
CASE = "KS-0001"  # examples/intake.json's
SECRET = re.compile(r"PASSWORD|PWD|TOKEN|SECRET")
KEY_RING = re.compile(r"_KEYS$")
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs the services as user nobody: needs root"),
]


# ---- reading docker-compose.yml as compose does -----------------------------------------


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
    ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+alt}``, ``${VAR+alt}``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("name"):
            return variables.get(match.group("name"), "")
        expr = re.fullmatch(r"([A-Za-z_]\w*)(?:(:?)([-?+])(.*))?", match.group("braced"), re.S)
        assert expr, f"compose cannot interpolate ${{{match.group('braced')}}}"
        name, colon, op, arg = expr.groups()
        value = variables.get(name)
        present = bool(value) if colon else value is not None
        if op is None:
            return value or ""
        if op == "-":
            return value if present and value is not None else interpolate(arg, variables)
        if op == "+":
            return interpolate(arg, variables) if present else ""
        assert present, f"${{{name}}} is required: {arg}"
        return value or ""

    return re.sub(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<name>[A-Za-z_]\w*))", one, text)


def interpolated(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [interpolated(n, variables) for n in node]
    if isinstance(node, dict):
        return {k: interpolated(v, variables) for k, v in node.items()}
    return node


# The operator sets no variable: every ${VAR:-default} takes its default.
COMPOSE: dict[str, Any] = interpolated(
    yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8")), {}
)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = [n for n, s in SERVICES.items() if str(s.get("image", "")).startswith("petitionflow:")]
# What stands in for the services of the compose file this test does not run.
STAND_INS = {"temporal": "the Temporal dev server", "eventstore-db": "the local PostgreSQL"}


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: str(v) for k, v in env.items() if v is not None}


def env_files(service: str) -> list[str]:
    files = SERVICES[service].get("env_file") or []
    files = [files] if isinstance(files, str) else files
    return [f if isinstance(f, str) else f["path"] for f in files]


def depends_on(service: str) -> dict[str, str]:
    deps = SERVICES[service].get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {k: v.get("condition", "service_started") for k, v in deps.items()}


def start_order() -> list[str]:
    """Our services, each after those it depends on."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"depends_on has a cycle: {' -> '.join((*path, name))}"
        if name in order:
            return
        for dep in depends_on(name):
            if dep in OURS:
                visit(dep, (*path, name))
            else:
                assert dep in STAND_INS, f"{name} depends on {dep}, which nothing stands in for"
        order.append(name)

    for name in OURS:
        visit(name, ())
    return order


def one_shot() -> set[str]:
    """The services another waits for to complete (``service_completed_successfully``)."""
    return {
        dep
        for name in SERVICES
        for dep, condition in depends_on(name).items()
        if condition == "service_completed_successfully"
    }


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))


def parse_env_file(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=VALUE: {line!r}"
            env[key.strip()] = value.strip()
    return env


@functools.cache
def image() -> tuple[tuple[str, ...], dict[str, str]]:
    """The Dockerfile's final stage: its ENTRYPOINT and its ENV."""
    stages = re.split(r"^FROM\s", (ROOT / "Dockerfile").read_text(encoding="utf-8"), flags=re.M)
    final = re.sub(r"\\\n", " ", stages[-1])
    (entrypoint,) = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", final, re.M)
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV\s+(.*)$", final, re.M):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    return tuple(json.loads(entrypoint)), env


# ---- the secrets: deploy/*.env.example with generated values ----------------------------


def generate_secrets() -> dict[str, dict[str, str]]:
    """``{"keys.env": {...}}``: each example's variables, empty secrets generated (a key
    ring's trailing ``id:`` gets 32 random bytes in base64), then every ``<VARIABLE>``
    placeholder replaced with that variable's value: the one in the same file, else the
    only one of that name in another."""
    files = {
        path.name.removesuffix(".example"): parse_env_file(path.read_text(encoding="utf-8"))
        for path in sorted(DEPLOY.glob("*.env.example"))
    }
    for env in files.values():
        for key, value in env.items():
            if KEY_RING.search(key) and value.endswith(":"):
                env[key] = value + base64.b64encode(os.urandom(32)).decode()
            elif SECRET.search(key) and not value:
                env[key] = secrets.token_hex(24)  # letters and digits, as the examples ask

    def value_of(name: str, variable: str) -> str:
        if variable in files[name]:
            return files[name][variable]
        found = [env[variable] for env in files.values() if variable in env]
        assert len(found) == 1, f"{name}: <{variable}> is in {len(found)} other files"
        return found[0]

    for name, env in files.items():
        for key, value in env.items():
            env[key] = PLACEHOLDER.sub(lambda m: value_of(name, m.group(1)), value)  # noqa: B023
    return files


# ---- PostgreSQL -------------------------------------------------------------------------


def scram_matches(verifier: str, password: str) -> bool:
    """Whether ``password`` is the one PostgreSQL's SCRAM-SHA-256 ``verifier`` was made from."""
    method, _, rest = verifier.partition("$")
    iterations_salt, _, keys = rest.partition("$")
    iterations, _, salt = iterations_salt.partition(":")
    stored_key = base64.b64decode(keys.partition(":")[0])
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return method == "SCRAM-SHA-256" and hmac.compare_digest(
        hashlib.sha256(client_key).digest(), stored_key
    )


@dataclass
class Database:
    """The stand-in for eventstore-db: a database and roles of this run's own."""

    prefix: str = field(default_factory=lambda: f"pft_{uuid.uuid4().hex[:8]}")

    def local(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(PG_DSN, autocommit=True)

    def create(self, owner: str, password: str, database: str) -> None:
        """What the postgres image does with POSTGRES_USER, _PASSWORD and _DB (its owner is
        a superuser there; here a plain role that owns the database)."""
        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(owner), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(owner)
                )
            )

    def roles(self) -> dict[str, str]:
        """Every role of this run: name -> its password's SCRAM verifier."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE %s",
                (self.prefix + "%",),
            ).fetchall()
        return {name: verifier or "" for name, verifier in rows}

    def users_connected(self, database: str) -> set[str]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchall()
        return {r[0] for r in rows}

    def drop(self) -> None:
        with self.connect() as conn:
            for (name,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (self.prefix + "%",)
            ).fetchall():
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            for name in self.roles():
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


# ---- the install: one wheel in a fresh venv, as the image has it -----------------------


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def wheelhouse() -> Path:
    """The build and runtime requirements as wheels, downloaded once per set of them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project["build-system"]["requires"], *project["project"]["dependencies"]]
    key = hashlib.sha256(
        "\n".join([sys.version.split()[0][:4], *sorted(wanted)]).encode()
    ).hexdigest()[:16]
    house = WHEELHOUSE / key
    if not house.is_dir():
        WHEELHOUSE.mkdir(exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=WHEELHOUSE, prefix="partial-"))
        run([*PIP, "download", "-q", "--dest", str(partial), *wanted])
        try:
            partial.rename(house)
        except OSError:  # another run filled it first
            shutil.rmtree(partial)
    return house


@dataclass
class Install:
    root: Path  # readable by everyone
    venv: Path
    app: Path  # the working directory: read-only to the services
    timings: dict[str, float]


@pytest.fixture(scope="module")
def install() -> Iterator[Install]:
    root = Path(tempfile.mkdtemp(prefix="pf-topology-"))
    root.chmod(0o755)
    timings: dict[str, float] = {}
    started = time.monotonic()
    house = wheelhouse()
    timings["wheelhouse"] = time.monotonic() - started
    started = time.monotonic()
    wheels = root / "wheels"
    local = ["--no-index", "--find-links", str(house)]
    run([*PIP, "wheel", "-q", "--no-deps", *local, "--wheel-dir", str(wheels), str(ROOT)])
    (wheel,) = wheels.glob("petitionflow-*.whl")
    timings["wheel"] = time.monotonic() - started
    started = time.monotonic()
    venv = root / "venv"
    run(["/usr/bin/python3.11", "-m", "venv", "--without-pip", str(venv)])
    pip_install = [*PIP, "--python", str(venv / "bin" / "python"), "install", "-q"]
    run([*pip_install, *local, str(wheel)], env={**os.environ, **image()[1]})  # the ENV it has
    timings["install"] = time.monotonic() - started
    app = root / "app"
    app.mkdir()
    for example in (ROOT / "examples").glob("*.json"):
        shutil.copy(example, app / example.name)
    app.chmod(0o555)  # root's: nobody may read it, not write it
    yield Install(root, venv, app, timings)
    shutil.rmtree(root, ignore_errors=True)


# ---- processes as nobody ------------------------------------------------------------------

NOBODY = pwd.getpwnam("nobody")


@dataclass
class Topology:
    install: Install
    dev: DevServer
    db: Database
    secrets: dict[str, dict[str, str]]
    codec_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    logs: Path = field(init=False)
    procs: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logs = self.install.root / "logs"
        self.logs.mkdir()

    # What each service name and port of the compose file is here.
    def localize(self, text: str) -> str:
        for old, new in (
            ("temporal:7233", self.dev.address),
            ("('temporal', 7233)", f"('127.0.0.1', {self.dev.port})"),
            ("0.0.0.0", "127.0.0.1"),
            (":8081", f":{self.codec_port}"),
            (":8089", f":{self.api_port}"),
        ):
            text = text.replace(old, new)
        return text

    def localize_env(self, env: Mapping[str, str]) -> dict[str, str]:
        out = {}
        for key, value in env.items():
            if key in ("POSTGRES_USER", "POSTGRES_DB") or key.endswith("_ROLE"):
                value = self.db.local(value)
            elif value.startswith("postgresql"):
                url = make_url(value)
                assert (url.host, url.port) == ("eventstore-db", 5432), f"{key}={url!r}"
                value = url.set(
                    host="127.0.0.1",
                    username=self.db.local(url.username or ""),
                    database=self.db.local(url.database or ""),
                ).render_as_string(hide_password=False)
            out[key] = self.localize(value)
        return out

    def service_env(self, service: str) -> dict[str, str]:
        """As compose gives it: the env files in order, then ``environment`` on top."""
        env: dict[str, str] = {}
        for path in env_files(service):
            assert path.startswith("deploy/secrets/"), f"{service}: env_file {path}"
            name = Path(path).name
            assert name in self.secrets, f"{service}: {path} has no deploy/{name}.example"
            env.update(self.secrets[name])
        env.update(environment(service))
        return self.localize_env(env)

    def process_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The image's environment (the Dockerfile's ENV, PATH to the venv, LANG as the
        python image sets it, a home that does not exist), then ``env``."""
        return {
            **image()[1],
            "PATH": f"{self.install.venv / 'bin'}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": NOBODY.pw_dir,
            **env,
        }

    def popen(self, argv: list[str], env: Mapping[str, str], log: str) -> subprocess.Popen[bytes]:
        with open(self.logs / log, "ab") as out:
            return subprocess.Popen(
                argv,
                env=self.process_env(env),
                cwd=self.install.app,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=NOBODY.pw_uid,
                group=NOBODY.pw_gid,
                extra_groups=[],
            )

    def run_as_nobody(
        self, argv: list[str], env: Mapping[str, str], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            env=self.process_env(env),
            cwd=self.install.app,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=NOBODY.pw_uid,
            group=NOBODY.pw_gid,
            extra_groups=[],
        )

    def argv(self, service: str) -> list[str]:
        command = SERVICES[service]["command"]
        command = shlex.split(command) if isinstance(command, str) else command
        # a port number alone (--port 8081) is the compose port's, as is host:8081
        ports = {"8081": str(self.codec_port), "8089": str(self.api_port)}
        return [*image()[0], *(ports.get(str(arg)) or self.localize(str(arg)) for arg in command)]

    def healthy(self, service: str, timeout: float = 60) -> None:
        test = SERVICES[service]["healthcheck"]["test"]
        kind, *rest = [test] if isinstance(test, str) else test
        argv = ["/bin/sh", "-c", rest[0]] if kind == "CMD-SHELL" else rest
        argv = [self.localize(a) for a in argv]
        env = self.service_env(service)
        deadline = time.monotonic() + timeout
        while True:
            for proc in self.procs.get(service, []):
                assert proc.poll() is None, (
                    f"{service} exited {proc.returncode}: {self.log(service)}"
                )
            done = self.run_as_nobody(argv, env, timeout=10)
            if done.returncode == 0:
                return
            assert time.monotonic() < deadline, (
                f"{service} unhealthy: {argv} -> {done.stderr[-500:]}\n{self.log(service)}"
            )
            time.sleep(0.5)

    def log(self, service: str) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.logs.glob(f"{service}*.log"))
        )

    def stop_all(self) -> dict[str, list[int | None]]:
        """Each long-running service stopped as compose stops it: ``stop_signal``, then
        SIGKILL after ``stop_grace_period`` (compose's default: SIGTERM, 10 s)."""
        codes: dict[str, list[int | None]] = {}
        for service, procs in reversed(self.procs.items()):
            s = SERVICES[service]
            sig = getattr(signal, s.get("stop_signal", "SIGTERM"))
            grace = seconds(s.get("stop_grace_period", "10s"))
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(sig)
            for proc in procs:
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            codes[service] = [p.returncode for p in procs]
        self.procs.clear()
        return codes


@pytest.fixture
def database(pg_available: None) -> Iterator[Database]:
    db = Database()
    try:
        yield db
    finally:
        db.drop()


# ---- the test -----------------------------------------------------------------------------


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload in a history event that the payload codec encodes: search attributes
    are the server's index, in plain JSON by design."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None or descriptor.name == "search_attributes":
            continue
        items = value if descriptor.is_repeated else [value]
        if descriptor.message_type.GetOptions().map_entry:
            items = list(value.values())
            if items and not isinstance(items[0], Message):
                continue
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from payloads_in(item)


def post(url: str, body: bytes | None, headers: dict[str, str], method: str = "POST") -> Any:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def decoded_text(answer: dict[str, Any]) -> str:
    texts = []
    for p in answer["payloads"]:
        assert base64.b64decode(p["metadata"]["encoding"]) == b"json/plain", p["metadata"]
        texts.append(base64.b64decode(p["data"]).decode("utf-8"))
    return "\n".join(texts)


async def history_payloads(address: str, namespace: str, workflow_id: str) -> list[Payload]:
    client = await Client.connect(address, namespace=namespace)  # no codec: as stored
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [p for event in history.events for p in payloads_in(event)]


async def pollers(address: str, namespace: str, task_queue: str) -> set[str]:
    client = await Client.connect(address, namespace=namespace)
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {p.identity for p in answer.pollers}


def test_the_compose_services_run_a_case_as_nobody_in_a_read_only_folder(
    install: Install, database: Database, tmp_path: Path
) -> None:
    print(f"\ninstall: {', '.join(f'{k} {v:.1f} s' for k, v in install.timings.items())}")
    started = time.monotonic()
    assert not os.access(NOBODY.pw_dir, os.F_OK), f"nobody's home {NOBODY.pw_dir} exists"
    dev = DevServer(tmp_path)
    dev.start()
    topology = Topology(install, dev, database, generate_secrets())
    secrets_ = topology.secrets
    try:
        # eventstore-db: the owner and the database, then the image's init script
        # (deploy/eventstore-db-init.sh, mounted where the image runs it) as its superuser
        db_env = topology.service_env("eventstore-db")
        database.create(db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"], db_env["POSTGRES_DB"])
        (mount,) = [
            v for v in SERVICES["eventstore-db"]["volumes"] if "docker-entrypoint-initdb.d" in v
        ]
        script = ROOT / mount.split(":")[0]
        assert os.access(script, os.X_OK), (
            f"{script} must be executable (the image sources it else)"
        )
        pg = psycopg.conninfo.conninfo_to_dict(PG_DSN)
        run(
            [str(script)],
            env={
                **db_env,
                "PATH": os.environ["PATH"],
                "POSTGRES_USER": str(pg.get("user", "postgres")),
                "PGHOST": str(pg.get("host", "127.0.0.1")),
                "PGPORT": str(pg.get("port", 5432)),
            },
        )

        # Each service's URL names a role that exists, with its password.
        verifiers = database.roles()
        for service in OURS:
            url_text = topology.service_env(service).get("PETITIONFLOW_STORE_URL")
            if url_text:
                url = make_url(url_text)
                assert url.username in verifiers, f"{service}: role {url.username} missing"
                assert scram_matches(verifiers[url.username], url.password or ""), (
                    f"{service}: the password in its URL is not {url.username}'s"
                )

        # The one-shot services first, in depends_on order; each must exit 0.
        order = start_order()
        for service in (s for s in order if s in one_shot()):
            env = topology.service_env(service)
            done = topology.run_as_nobody(topology.argv(service), env)
            assert done.returncode == 0, f"{service}: {done.returncode}\n{done.stdout}{done.stderr}"
            print(f"{service}: {done.stdout.strip()}")

        # Then the long-running ones, each as many as compose would start, until healthy.
        for service in (s for s in order if s not in one_shot()):
            replicas = int(SERVICES[service].get("deploy", {}).get("replicas", 1))
            env = topology.service_env(service)
            topology.procs[service] = [
                topology.popen(topology.argv(service), env, f"{service}-{n}.log")
                for n in range(1, replicas + 1)
            ]
        for service in topology.procs:
            topology.healthy(service)
        workers = topology.procs["worker"]
        assert len(workers) == 2  # ${WORKER_REPLICAS:-2}

        # The operator: the workers' Temporal settings and keys; the event store as the
        # reader (petition history, verify, report) or the projector (petition project).
        worker_env = topology.service_env("worker")
        worker_url = make_url(worker_env["PETITIONFLOW_STORE_URL"])
        roles = topology.localize_env(environment("eventstore-migrate"))
        roles_env = secrets_["eventstore-roles.env"]

        def url_of(purpose: str) -> str:
            return worker_url.set(
                username=roles[f"PETITIONFLOW_{purpose}_ROLE"],
                password=roles_env[f"EVENTSTORE_{purpose}_PASSWORD"],
            ).render_as_string(hide_password=False)

        def petition(*args: str, as_role: str = "READER") -> str:
            env = {**worker_env, "PETITIONFLOW_STORE_URL": url_of(as_role)}
            done = topology.run_as_nobody([*image()[0], *args], env)
            assert done.returncode == 0, (
                f"petition {shlex.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}\n"
                + topology.log("worker")
            )
            return done.stdout

        def as_unit(**fields: str) -> str:
            return json.dumps({"actor": LABOUR, **fields}, ensure_ascii=False)

        petition("submit", "intake.json")
        petition("send", CASE, "transfer_petition", "--data", "@transfer.json")
        petition("send", CASE, "acknowledge_receipt", "--data", as_unit())
        petition("send", CASE, "accept_petition", "--data", as_unit())
        petition("send", CASE, "issue_decision", "--data", "@decision.json")
        delivered = as_unit(document="reply", method="in_person")
        petition("send", CASE, "record_delivery", "--data", delivered)
        petition("send", CASE, "report_implementation", "--data", as_unit(report="工资已支付到位"))
        rating = {"actor": {"unit": "信访人", "person": "短信"}, "rating": "satisfied"}
        petition("send", CASE, "record_rating", "--data", json.dumps(rating, ensure_ascii=False))
        state = json.loads(petition("show", CASE, "--json"))
        assert state["stage"] == "closed", state
        assert "intact" in petition("verify", CASE, "--live")
        petition("project", as_role="PROJECTOR")
        report = petition("report", "--format", "json")
        assert "疏附县人力资源和社会保障局" in report, report

        # The workers held their own role's connections, never the owner's.
        users = database.users_connected(worker_url.database or "")
        assert worker_url.username in users, users
        assert db_env["POSTGRES_USER"] not in users, users
        namespace = worker_env["TEMPORAL_NAMESPACE"]
        polling = asyncio.run(
            pollers(dev.address, namespace, worker_env["PETITIONFLOW_TASK_QUEUE"])
        )
        assert {str(w.pid) for w in workers} <= {i.partition("@")[0] for i in polling}, polling

        # The history as the Temporal UI gets it: encrypted payloads, which the codec
        # server decodes for the UI's origin and namespace.
        payloads = asyncio.run(history_payloads(dev.address, namespace, f"petition-{CASE}"))
        encrypted = [p for p in payloads if p.metadata.get("encoding") == b"binary/encrypted"]
        # Only the SDK's own markers (a patch's id, a local activity's timing) are plain.
        plain = [p.data for p in payloads if p not in encrypted]
        assert len(encrypted) >= 8 and all(data.isascii() for data in plain), plain
        body = json.dumps({"payloads": [json_format.MessageToDict(p) for p in encrypted]}).encode()
        command = SERVICES["codec-server"]["command"]
        origin = command[command.index("--origin") + 1]
        token = topology.service_env("codec-server")["PETITIONFLOW_CODEC_TOKEN"]
        ui = topology.localize_env(secrets_["temporal-ui.env"])["TEMPORAL_CODEC_ENDPOINT"]
        asked = {"Content-Type": "application/json", "X-Namespace": namespace, "Origin": origin}
        preflight = post(
            f"{ui}/decode",
            None,
            {
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
            method="OPTIONS",
        )
        assert preflight[0] == 204 and preflight[1]["Access-Control-Allow-Origin"] == origin
        # as the Temporal UI 2.x asks, from the endpoint in temporal-ui.env (token in the path)
        status, headers, answer = post(f"{ui}/decode?preserveStorageRefs=true", body, asked)
        assert status == 200, answer
        assert headers["Access-Control-Allow-Origin"] == origin
        text = decoded_text(answer)
        assert "请求支付拖欠的工资" in text and "工资已支付到位" in text, text[:500]
        # and as a proxy in front of the codec server asks, with the bearer token
        status, _, answer = post(
            f"http://127.0.0.1:{topology.codec_port}/decode",
            body,
            {**asked, "Authorization": f"Bearer {token}"},
        )
        assert status == 200 and decoded_text(answer) == text
        status, _, answer = post(f"http://127.0.0.1:{topology.codec_port}/decode", body, asked)
        assert status == 401, answer
    finally:
        codes = topology.stop_all()
        dev.stop()
        print(f"topology: {time.monotonic() - started:.1f} s; exit codes {codes}")
    assert codes == {"codec-server": [0], "worker": [0, 0], "api": [0]}, codes
    logs = topology.log("")
    for problem in ("Traceback", "PermissionError", "Read-only", "could not write the .pyc"):
        assert problem not in logs, logs
