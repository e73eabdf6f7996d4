"""One settings model: flags over the environment over ``.env`` over one default each;
Temporal's connection through the SDK's envconfig."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from petitionflow.config import WORKFLOW_TASK_SLOTS, ConfigError, Settings
from petitionflow.eventstore import EventStore

VARIABLES = [
    "PETITIONFLOW_STORE_URL",
    "PETITIONFLOW_DATA_DIR",
    "PETITIONFLOW_TASK_QUEUE",
    "PETITIONFLOW_WORKFLOW_TASK_SLOTS",
    "PETITIONFLOW_PAYLOAD_KEYS",
    "PETITIONFLOW_SEALING_KEYS",
    "PETITIONFLOW_INDEX_KEYS",
    "PETITIONFLOW_KEYS_FILE",
    "PETITIONFLOW_CODEC_TOKEN",
    "TEMPORAL_RETENTION_DAYS",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CERT",
    "TEMPORAL_TLS_KEY",
    "TEMPORAL_TLS_CA",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_PROFILE",
]


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("HOME", str(tmp_path / "no-home"))  # no ~/.config/temporalio


def test_one_default_for_each_setting() -> None:
    s = Settings.load()
    assert s.data_dir == Path("data")
    assert s.store == "sqlite:///data/events.db"
    assert s.task_queue == "petitions"
    assert s.default_keys_file == Path("data/keys.json")
    assert s.retention_days == 30
    assert s.workflow_task_slots == 24
    assert s.temporal() == {"target_host": "127.0.0.1:7233", "namespace": "default"}


def test_flags_over_environment_over_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text(
        "PETITIONFLOW_TASK_QUEUE=from-dotenv\nPETITIONFLOW_DATA_DIR=dotenv-data\n",
        encoding="utf-8",
    )
    assert Settings.load().task_queue == "from-dotenv"
    assert Settings.load().store == "sqlite:///dotenv-data/events.db"  # follows the folder
    monkeypatch.setenv("PETITIONFLOW_DATA_DIR", "env-data")
    assert Settings.load().data_dir == Path("env-data")
    assert Settings.load(data_dir=Path("flag-data")).data_dir == Path("flag-data")
    assert Settings.load(store_url=None).data_dir == Path("env-data")  # an absent flag
    monkeypatch.setenv("PETITIONFLOW_STORE_URL", "postgresql://app@db/petitions")
    assert Settings.load(data_dir=Path("x")).store == "postgresql://app@db/petitions"


def test_a_wrong_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_RETENTION_DAYS", "thirty")
    with pytest.raises(ConfigError, match="TEMPORAL_RETENTION_DAYS: ") as caught:
        Settings.load()
    assert "\n" not in str(caught.value)
    monkeypatch.delenv("TEMPORAL_RETENTION_DAYS")
    with pytest.raises(ConfigError, match="TEMPORAL_RETENTION_DAYS: Input should be greater"):
        Settings.load(retention_days=0)  # the flag's value, named by its variable


def test_temporal_through_the_sdks_envconfig(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "petitions.example:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "petitions")
    monkeypatch.setenv("TEMPORAL_API_KEY", "k-123")
    config = Settings.load().temporal()
    assert config["target_host"] == "petitions.example:7233"
    assert config["namespace"] == "petitions"
    assert config["api_key"] == "k-123" and config["tls"] is True

    monkeypatch.delenv("TEMPORAL_API_KEY")
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(tmp_path / "client.pem"))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(tmp_path / "client.key"))
    tls = Settings.load().temporal()["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (b"CERT", b"KEY")


def test_a_profile_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "temporal.toml").write_text(
        '[profile.prod]\naddress = "prod.example:7233"\nnamespace = "petitions"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "temporal.toml"))
    monkeypatch.setenv("TEMPORAL_PROFILE", "prod")
    s = Settings.load()
    assert (s.temporal_address, s.namespace) == ("prod.example:7233", "petitions")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CLIENT_CERT_PATH"),
        ("TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CLIENT_KEY_PATH"),
        ("TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"),
    ],
)
def test_an_earlier_variable_name_is_refused_with_its_new_name(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str
) -> None:
    """A worker must not connect without its certificate because a variable was renamed."""
    monkeypatch.setenv(old, "/etc/petitionflow/client.pem")
    with pytest.raises(ConfigError, match=f"{old} is now {new}"):
        Settings.load().temporal()


def test_keys_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    key = base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv("PETITIONFLOW_PAYLOAD_KEYS", f"p1:{key}")
    monkeypatch.setenv("PETITIONFLOW_SEALING_KEYS", f"s1:{key}")
    keys = Settings.load().keys()
    assert (keys.payload.newest[0], keys.sealing.newest[0]) == ("p1", "s1")
    assert keys.index is None  # the worker refuses to start so (tests/test_petitioner_index.py)
    monkeypatch.setenv("PETITIONFLOW_INDEX_KEYS", f"i1:{key}")
    keys = Settings.load().keys()
    assert keys.index is not None and keys.index.newest[0] == "i1"
    assert key not in repr(Settings.load())  # secrets are not in a repr or a log line


def test_a_certificate_that_cannot_be_read_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(tmp_path / "missing.pem"))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(tmp_path / "missing.key"))
    with pytest.raises(ConfigError, match=r"Temporal TLS: cannot read .*missing"):
        Settings.load().temporal()


async def test_the_worker_takes_as_many_workflow_tasks_as_set(
    monkeypatch: pytest.MonkeyPatch, temporal_env: WorkflowEnvironment, store: EventStore
) -> None:
    """A worker process runs its activations one at a time: the workflow tasks it takes
    at once are bounded (``WORKFLOW_TASK_SLOTS``, below the SDK's 100), and can be set."""
    from petitionflow.workers.main import build_worker
    from testkit.keys import SEALER

    def slots(worker: Worker) -> object:
        return worker.config().get("max_concurrent_workflow_tasks")

    # a task queue of its own per worker: a client registers one worker per task queue
    queue = f"slots-{uuid.uuid4().hex[:8]}"
    assert slots(build_worker(temporal_env.client, store, SEALER, queue)) == 24
    assert WORKFLOW_TASK_SLOTS == 24
    monkeypatch.setenv("PETITIONFLOW_WORKFLOW_TASK_SLOTS", "8")
    chosen = Settings.load().workflow_task_slots
    worker = build_worker(
        temporal_env.client, store, SEALER, f"{queue}-set", workflow_task_slots=chosen
    )
    assert slots(worker) == 8
    monkeypatch.setenv("PETITIONFLOW_WORKFLOW_TASK_SLOTS", "1")
    with pytest.raises(ConfigError, match="PETITIONFLOW_WORKFLOW_TASK_SLOTS: "):
        Settings.load()
