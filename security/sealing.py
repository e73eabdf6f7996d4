"""Sealing of accusation material (检举控告) in the event store, with its own key ring.

The whole identity of the accuser and the content of the accusation are sealed; the
channel, classification, jurisdiction and received date stay readable for reporting.
Art 30(3): this material must never reach the accused.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keys import KeyConfigError, KeyRing

PREFIX = "sealed:v1:"
SEALED_FIELDS = ("petitioner", "representatives", "request", "facts", "reasons")


class SealedError(Exception):
    pass


class Sealer:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def seal(self, value: Any, context: str) -> str:
        key_id, key = self.ring.newest
        nonce = os.urandom(12)
        plain = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
        sealed = AESGCM(key).encrypt(nonce, plain, context.encode())
        return f"{PREFIX}{key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def unseal(self, token: str, context: str) -> Any:
        if not token.startswith(PREFIX):
            raise SealedError("not a sealed value")
        key_id, _, b64 = token[len(PREFIX) :].partition(":")
        try:
            key = self.ring.get(key_id)
        except KeyConfigError as exc:
            raise SealedError(f"accusation material is sealed with key {key_id!r}: {exc}") from None
        raw = base64.b64decode(b64)
        return json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()))
