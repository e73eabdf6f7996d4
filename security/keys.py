"""Key rings for AES-256-GCM: the newest key encrypts, every key still decrypts.

Keys come from the environment, the same way in development and production:

- ``PETITIONFLOW_PAYLOAD_KEYS``: Temporal payloads, ``id:base64key,id:base64key``,
  newest first;
- ``PETITIONFLOW_SEALING_KEYS``: the material of accusations in the event store, a
  separate ring in the same format;
- or ``PETITIONFLOW_KEYS_FILE``: a JSON file ``{"payload": [[id, key]...], "sealing": [...]}``
  (``petition dev`` writes ``data/keys.json``, mode 600, on first start).

Rotation: put a new key first and keep the old ones; old data stays readable.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path


class KeyConfigError(Exception):
    """A key is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]  # newest first

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigError("a key ring needs at least one key")
        for key_id, key in self.keys:
            if len(key) != 32:
                raise KeyConfigError(f"key {key_id!r} is {len(key)} bytes; AES-256 needs 32")
            if not key_id or ":" in key_id or "," in key_id:
                raise KeyConfigError(f"key id {key_id!r} must be non-empty, without ':' or ','")

    @property
    def newest(self) -> tuple[str, bytes]:
        return self.keys[0]

    def get(self, key_id: str) -> bytes:
        for kid, key in self.keys:
            if kid == key_id:
                return key
        raise KeyConfigError(
            f"data was encrypted with key {key_id!r}, which this process does not have; "
            "add it (after the newest key) to the key ring"
        )

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        pairs = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            key_id, sep, b64 = item.partition(":")
            if not sep:
                raise KeyConfigError(f"key ring entry {item[:12]!r}... is not id:base64key")
            pairs.append((key_id, base64.b64decode(b64)))
        return cls(tuple(pairs))

    def dump(self) -> list[list[str]]:
        return [[kid, base64.b64encode(key).decode()] for kid, key in self.keys]

    @classmethod
    def generate(cls, key_id: str) -> KeyRing:
        return cls(((key_id, os.urandom(32)),))


@dataclass(frozen=True)
class Keys:
    payload: KeyRing
    sealing: KeyRing


def load_keys(default_file: Path | None = None) -> Keys:
    payload, sealing = (
        os.environ.get("PETITIONFLOW_PAYLOAD_KEYS"),
        os.environ.get("PETITIONFLOW_SEALING_KEYS"),
    )
    if payload and sealing:
        return Keys(KeyRing.parse(payload), KeyRing.parse(sealing))
    file = os.environ.get("PETITIONFLOW_KEYS_FILE") or (str(default_file) if default_file else None)
    if file and Path(file).exists():
        body = json.loads(Path(file).read_text(encoding="utf-8"))
        return Keys(
            KeyRing(tuple((k, base64.b64decode(v)) for k, v in body["payload"])),
            KeyRing(tuple((k, base64.b64decode(v)) for k, v in body["sealing"])),
        )
    raise KeyConfigError(
        "no encryption keys: set PETITIONFLOW_PAYLOAD_KEYS and PETITIONFLOW_SEALING_KEYS "
        "(id:base64 of 32 random bytes, newest first) or PETITIONFLOW_KEYS_FILE; "
        "`petition dev` creates data/keys.json for local use"
    )


def ensure_keys_file(path: Path) -> Keys:
    """Create a keys file with fresh keys if there is none (``petition dev``)."""
    if not path.exists():
        stamp = "dev-1"
        body = {
            "payload": KeyRing.generate(stamp).dump(),
            "sealing": KeyRing.generate(stamp).dump(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1)
    os.environ.setdefault("PETITIONFLOW_KEYS_FILE", str(path))
    return load_keys(path)
