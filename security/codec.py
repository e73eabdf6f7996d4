"""AES-256-GCM payload codec: Temporal stores and shows only ciphertext.

Each encrypted payload names its key in the metadata (``encryption-key-id``), so the
newest key encrypts and older ones still decrypt. Payloads that are not encrypted
(written before encryption was turned on) pass through unchanged; a decrypted one
carries the ``petitionflow-decrypted`` marker, which only decryption sets, so the
workflow can refuse a start, update or signal that was sent without the codec
(``unencrypted_payload``, see workflows/petition.py).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from .keys import KeyRing

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
# Set on every payload this codec decrypted, removed from any other: a caller cannot
# forge it on a plain payload. Never encrypted itself (it is added after decryption).
DECRYPTED = "petitionflow-decrypted"


class EncryptionCodec(PayloadCodec):
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id, key = self.ring.newest
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if DECRYPTED not in payload.metadata:
                return payload
            unmarked = Payload()
            unmarked.CopyFrom(payload)
            del unmarked.metadata[DECRYPTED]
            return unmarked
        key_id = payload.metadata[KEY_ID].decode()
        key = self.ring.get(key_id)
        plain = AESGCM(key).decrypt(payload.data[:12], payload.data[12:], key_id.encode())
        inner = Payload.FromString(plain)
        inner.metadata[DECRYPTED] = b"1"
        return inner


def data_converter(ring: KeyRing) -> DataConverter:
    """The one converter for clients, workers and replays: pydantic JSON, then AES-GCM.

    Failure messages and stack traces are encrypted too (they can quote a case).
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
