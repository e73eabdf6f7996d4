"""Every setting of petitionflow, in one model, with one default each.

Read from, highest first: the command line's flags (``--store``, ``--data-dir``...,
passed as keyword arguments), the environment, an optional ``.env`` file in the
working directory, and the defaults below. The variables:

========================== ================================================ ===================
variable                   meaning                                          default
========================== ================================================ ===================
PETITIONFLOW_DATA_DIR      local state of ``petition dev`` and the CLI      ``data``
PETITIONFLOW_STORE_URL     the event store (``sqlite:///…``,                ``sqlite:///`` +
                           ``postgresql://…``)                              data dir/events.db
PETITIONFLOW_TASK_QUEUE    the workers' task queue                          ``petitions``
PETITIONFLOW_PAYLOAD_KEYS  Temporal payload keys, ``id:base64,…`` newest    (none)
                           first
PETITIONFLOW_SEALING_KEYS  the event store's sealing keys, same format      (none)
PETITIONFLOW_INDEX_KEYS    the petitioner index's HMAC key, same format     (none)
                           (repeat petitions; the worker needs it)
PETITIONFLOW_KEYS_FILE     or the rings in a JSON file                      data dir/keys.json
PETITIONFLOW_CODEC_TOKEN   the bearer token the Temporal UI sends           (none)
PETITIONFLOW_WORKER_ROLE   the PostgreSQL role ``petition migrate`` grants  (none)
                           the worker's rights to (eventstore/grants.py),
                           and ``..._PROJECTOR_ROLE``, ``..._READER_ROLE``,
                           ``..._API_ROLE``
PETITIONFLOW_OIDC_ISSUER   the token issuer ``petition api`` trusts (``iss``)  (none; ``dev``: its own)
PETITIONFLOW_OIDC_JWKS_URL the issuer's key set (JWKS) URL                  (none; ``dev``: its own)
PETITIONFLOW_OIDC_AUDIENCE the tokens' audience (``aud``)                   ``petitionflow-api``
PETITIONFLOW_OIDC_LEEWAY   clock skew allowed on ``exp``/``nbf``, seconds   ``60``
PETITIONFLOW_API_HOST/PORT where ``petition api`` listens                   ``127.0.0.1``/``8089``
TEMPORAL_RETENTION_DAYS    closed-workflow retention ``setup-cluster``      ``30``
                           gives a new namespace
========================== ================================================ ===================

The connection to Temporal (address, namespace, TLS, API key) is the SDK's own
environment configuration, :mod:`temporalio.envconfig`: ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS``,
``TEMPORAL_TLS_CLIENT_CERT_PATH``, ``TEMPORAL_TLS_CLIENT_KEY_PATH``,
``TEMPORAL_TLS_SERVER_CA_CERT_PATH``, and profiles in ``TEMPORAL_CONFIG_FILE`` chosen
with ``TEMPORAL_PROFILE``; the same names the ``temporal`` CLI reads.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig

from petitionflow.security.keys import KeyConfigError, Keys, load_keys
from petitionflow.workflows.contract import TASK_QUEUE

DEFAULT_TEMPORAL_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"
# Workflow tasks one worker process takes at once. Its activations run one at a time on
# its event loop, so a task taken waits behind the others taken; the SDK's default of
# 100 let a burst wait past the 5 s workflow task timeout (bench.year, 128 items in
# flight: 19 of 1,121 items failed, 134 tasks over 5 s; with 24: none, and 2.3x the
# rate; BENCHMARKS.md). Tasks not taken wait on the server, where no timeout runs.
WORKFLOW_TASK_SLOTS = 24

# Names this project read before it used the SDK's configuration: refused with the new
# name rather than silently ignored (a worker would connect without its certificate).
RENAMED = {
    "TEMPORAL_TLS_CERT": "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_KEY": "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CA": "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
}


def _variable(field: str) -> str:
    """The environment variable a setting is read from."""
    return field if field.isupper() else f"PETITIONFLOW_{field.upper()}"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it and says how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PETITIONFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    data_dir: Path = Path("data")
    store_url: str | None = None
    task_queue: str = TASK_QUEUE
    workflow_task_slots: int = Field(default=WORKFLOW_TASK_SLOTS, ge=2, le=1000)
    payload_keys: SecretStr | None = None
    sealing_keys: SecretStr | None = None
    index_keys: SecretStr | None = None
    keys_file: Path | None = None
    codec_token: SecretStr | None = None
    # PostgreSQL login roles that `petition migrate` grants their rights to.
    worker_role: str | None = None
    projector_role: str | None = None
    reader_role: str | None = None
    api_role: str | None = None
    # petition api: who issues the bearer tokens it accepts
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    oidc_audience: str = "petitionflow-api"
    oidc_leeway: int = Field(default=60, ge=0, le=600)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8089, ge=1, le=65535)
    retention_days: int = Field(default=30, ge=1, validation_alias="TEMPORAL_RETENTION_DAYS")

    @classmethod
    def load(cls, **flags: Any) -> Settings:
        """The settings, with the command line's flags (those given, not None) on top."""
        given = {k: v for k, v in flags.items() if v is not None}
        if "retention_days" in given:
            given["TEMPORAL_RETENTION_DAYS"] = given.pop("retention_days")
        try:
            return cls(**given)
        except ValidationError as exc:
            problems = "; ".join(
                f"{_variable(str(e['loc'][0]) if e['loc'] else '')}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"configuration: {problems}") from None

    @property
    def store(self) -> str:
        """The event store's URL; by default a SQLite file in the data folder."""
        return self.store_url or f"sqlite:///{self.data_dir / 'events.db'}"

    @property
    def default_keys_file(self) -> Path:
        return self.keys_file or self.data_dir / "keys.json"

    def keys(self) -> Keys:
        """The key rings: from the environment, else the keys file."""

        def text(secret: SecretStr | None) -> str | None:
            return secret.get_secret_value() if secret else None

        return load_keys(
            text(self.payload_keys),
            text(self.sealing_keys),
            self.default_keys_file,
            text(self.index_keys),
        )

    def temporal(self) -> ClientConnectConfig:
        """``Client.connect``'s keyword arguments, from :mod:`temporalio.envconfig` (read
        once: the profile file and the certificates are files)."""
        return cast(ClientConnectConfig, dict(self._temporal))

    @cached_property
    def _temporal(self) -> ClientConnectConfig:
        if old := sorted(k for k in RENAMED if os.environ.get(k)):
            raise ConfigError(
                "; ".join(f"{k} is now {RENAMED[k]} (a file path)" for k in old)
                + ": rename the variable (the Temporal SDK's own configuration names)"
            )
        try:
            config = ClientConfigProfile.load().to_client_connect_config()
        except OSError as exc:  # a certificate or key file named but not readable
            raise ConfigError(
                f"Temporal TLS: cannot read {exc.filename}: {exc.strerror}; check the "
                "TEMPORAL_TLS_*_PATH variables"
            ) from None
        except Exception as exc:  # the SDK's loader raises its own RuntimeError/ValueError
            raise ConfigError(f"Temporal client configuration: {exc}") from None
        config.setdefault("target_host", DEFAULT_TEMPORAL_ADDRESS)
        config.setdefault("namespace", DEFAULT_NAMESPACE)
        return config

    @property
    def temporal_address(self) -> str:
        return self.temporal()["target_host"]

    @property
    def namespace(self) -> str:
        return self.temporal()["namespace"]


__all__ = ["ConfigError", "KeyConfigError", "Settings"]
