"""Key rings for AES-256-GCM: the newest key encrypts, every key still decrypts.

Keys come from the settings (``petitionflow.config``), the same way in development and
production:

- ``PETITIONFLOW_PAYLOAD_KEYS``: Temporal payloads, ``id:base64key,id:base64key``,
  newest first;
- ``PETITIONFLOW_SEALING_KEYS``: the material of accusations in the event store, a
  separate ring in the same format;
- ``PETITIONFLOW_INDEX_KEYS``: the HMAC-SHA256 key of the petitioner index (repeat
  petitions, ``security/index.py``), a third ring in the same format, used for
  nothing else; the worker needs it;
- or ``PETITIONFLOW_KEYS_FILE``: a JSON file ``{"payload": [[id, key]...], "sealing": [...],
  "index": [...]}`` (``petition dev`` writes ``data/keys.json``, mode 600, on first start,
  and adds an index key to one written before).

Rotation: put a new key first and keep the old ones; old data stays readable.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")


def shown(key_id: str) -> str:
    """A key id for a message: quoted if it is a plain id; a 32-byte key in base64 is 44
    characters, so an entry written the wrong way round is never printed."""
    return repr(key_id) if _PLAIN_ID.fullmatch(key_id) else f"(an id of {len(key_id)} characters)"


class KeyConfigError(Exception):
    """A key is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...] = field(repr=False)  # newest first

    def __repr__(self) -> str:
        return f"KeyRing(ids={[shown(k) for k, _ in self.keys]})"

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigError("a key ring needs at least one key")
        for key_id, key in self.keys:
            if len(key) != 32:
                raise KeyConfigError(f"key {shown(key_id)} is {len(key)} bytes; AES-256 needs 32")
            if not key_id or ":" in key_id or "," in key_id:
                raise KeyConfigError(
                    f"key id {shown(key_id)} must be non-empty, without ':' or ','"
                )

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
        items = [part.strip() for part in text.split(",")]
        for n, item in enumerate(filter(None, items), start=1):
            key_id, sep, b64 = item.partition(":")
            if not sep:
                # Never echo the entry: without its colon it may be the key itself.
                raise KeyConfigError(
                    f"key ring entry {n} of {text.count(',') + 1} is not id:base64key "
                    f"({len(item)} characters, no ':'); write each key as id:base64"
                )
            try:
                key = base64.b64decode(b64, validate=True)
            except ValueError:
                raise KeyConfigError(
                    f"key {shown(key_id)} (entry {n}) is not valid base64; generate one with "
                    '`python3 -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"`'
                ) from None
            pairs.append((key_id, key))
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
    # The petitioner index's HMAC key; None where a process does not screen repeats
    # (the worker refuses to start without it).
    index: KeyRing | None = None


INDEX_KEY_MISSING = (
    "no petitioner index key: set PETITIONFLOW_INDEX_KEYS (id:base64 of 32 random bytes, "
    'a key of its own, not a payload or sealing key) or add "index" to the keys file; '
    "`petition dev` creates one"
)


def load_keys(
    payload: str | None, sealing: str | None, file: Path | None, index: str | None = None
) -> Keys:
    """The rings from their texts (``id:base64,...``), else from ``file``."""
    if payload and sealing:
        return Keys(
            KeyRing.parse(payload), KeyRing.parse(sealing), KeyRing.parse(index) if index else None
        )
    if payload or sealing:
        missing = "PETITIONFLOW_SEALING_KEYS" if payload else "PETITIONFLOW_PAYLOAD_KEYS"
        raise KeyConfigError(
            f"{missing} is not set: set both key rings, or neither and a keys file"
        )
    if file and file.exists():
        try:
            body = json.loads(file.read_text(encoding="utf-8"))

            def ring(name: str) -> KeyRing:
                return KeyRing(
                    tuple((k, base64.b64decode(v, validate=True)) for k, v in body[name])
                )

            return Keys(
                ring("payload"),
                ring("sealing"),
                KeyRing.parse(index) if index else ring("index") if "index" in body else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyConfigError(
                f'keys file {file} is not {{"payload": [[id, base64]...], "sealing": [...]}} '
                f"({type(exc).__name__})"
            ) from None
        except OSError as exc:
            raise KeyConfigError(f"cannot read keys file {file}: {exc.strerror}") from None
    raise KeyConfigError(
        "no encryption keys: set PETITIONFLOW_PAYLOAD_KEYS and PETITIONFLOW_SEALING_KEYS "
        "(id:base64 of 32 random bytes, newest first) or PETITIONFLOW_KEYS_FILE; "
        "`petition dev` creates data/keys.json for local use"
    )


def ensure_keys_file(path: Path) -> Keys:
    """Create a keys file with fresh keys if there is none (``petition dev``); add an
    index key to a file written before the index had one."""
    stamp = "dev-1"
    if not path.exists():
        body = {
            "payload": KeyRing.generate(stamp).dump(),
            "sealing": KeyRing.generate(stamp).dump(),
            "index": KeyRing.generate(stamp).dump(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1)
    keys = load_keys(None, None, path)
    if keys.index is None:
        body = {
            "payload": keys.payload.dump(),
            "sealing": keys.sealing.dump(),
            "index": KeyRing.generate(stamp).dump(),
        }
        fresh = path.with_name(path.name + ".new")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1)
        os.replace(fresh, path)
        keys = load_keys(None, None, path)
    return keys
