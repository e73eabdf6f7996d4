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
from collections import OrderedDict
from collections.abc import Sequence
from typing import Self

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

from .keys import KeyRing

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
# Set on every payload this codec decrypted, removed from any other: a caller cannot
# forge it on a plain payload. Never encrypted itself (it is added after decryption).
DECRYPTED = "petitionflow-decrypted"


# The case's scope, in plain text beside the ciphertext so the codec server can decide
# whom to show it to without decrypting (security/codec_server.py): the case's place,
# top first, joined by "/", and whether it is an accusation (检举控告), whose payloads
# the codec server never decrypts. Both are bound to the ciphertext as associated data:
# changing either makes the payload undecryptable. Never personal data.
SCOPE = "petitionflow-scope"
SEALED = "petitionflow-sealed"


@dataclasses.dataclass(frozen=True, slots=True)
class CaseScope:
    path: tuple[str, ...]
    sealed: bool

    @property
    def text(self) -> str:
        return "/".join(self.path)


class CaseScopes:
    """Workflow id → its case's scope, for the payloads this process encodes.

    Learnt from the client that starts a case (``PetitionClient.submit``), from the
    case's search attributes (``PetitionClient.send``) and, in a worker, from the
    scope on the payloads it decodes (the start input first). Bounded: the least
    recently used are forgotten, and learnt again from the next payload."""

    def __init__(self, size: int = 100_000) -> None:
        self._scopes: OrderedDict[str, CaseScope] = OrderedDict()
        self.size = size

    def remember(self, workflow_id: str, scope: CaseScope) -> None:
        self._scopes[workflow_id] = scope
        self._scopes.move_to_end(workflow_id)
        if len(self._scopes) > self.size:
            self._scopes.popitem(last=False)

    def get(self, workflow_id: str | None) -> CaseScope | None:
        return self._scopes.get(workflow_id) if workflow_id else None


def _associated(key_id: str, scope: CaseScope | None) -> bytes:
    if scope is None:
        return key_id.encode()
    return f"{key_id}\n{scope.text}\n{int(scope.sealed)}".encode()


def payload_scope(payload: Payload) -> CaseScope | None:
    """The scope an encrypted payload names in plain text, if any."""
    text = payload.metadata.get(SCOPE)
    if text is None:
        return None
    path = tuple(p for p in text.decode().split("/") if p)
    return CaseScope(path, payload.metadata.get(SEALED) == b"1")


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(
        self, ring: KeyRing, scopes: CaseScopes | None = None, workflow_id: str | None = None
    ) -> None:
        self.ring = ring
        self.scopes = scopes if scopes is not None else CaseScopes()
        self.workflow_id = workflow_id

    def with_context(self, context: SerializationContext) -> Self:
        """The SDK calls this per workflow and activity: payloads of a case get its scope."""
        workflow_id = getattr(context, "workflow_id", None)
        if workflow_id is None or workflow_id == self.workflow_id:
            return self
        return type(self)(self.ring, self.scopes, workflow_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        scope = self.scopes.get(self.workflow_id)
        return [self.encrypt(p, scope) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.workflow_id is not None and self.scopes.get(self.workflow_id) is None:
            for p in payloads:
                if (scope := payload_scope(p)) is not None:
                    self.scopes.remember(self.workflow_id, scope)
                    break
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload, scope: CaseScope | None = None) -> Payload:
        key_id, key = self.ring.newest
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, payload.SerializeToString(), _associated(key_id, scope))
        metadata = {"encoding": ENCODING, KEY_ID: key_id.encode()}
        if scope is not None:
            metadata[SCOPE] = scope.text.encode()
            metadata[SEALED] = b"1" if scope.sealed else b"0"
        return Payload(metadata=metadata, data=nonce + sealed)

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
        plain = AESGCM(key).decrypt(
            payload.data[:12], payload.data[12:], _associated(key_id, payload_scope(payload))
        )
        inner = Payload.FromString(plain)
        inner.metadata[DECRYPTED] = b"1"
        return inner


def remember_scope(client_codec: PayloadCodec | None, workflow_id: str, scope: CaseScope) -> None:
    """Tell a client's codec the scope of a case it is about to send payloads to."""
    if isinstance(client_codec, EncryptionCodec):
        client_codec.scopes.remember(workflow_id, scope)


def knows_scope(client_codec: PayloadCodec | None, workflow_id: str) -> bool:
    return not isinstance(client_codec, EncryptionCodec) or (
        client_codec.scopes.get(workflow_id) is not None
    )


@dataclasses.dataclass(frozen=True)
class ScopedDataConverter(DataConverter):
    """A DataConverter whose per-context copies are kept, one per workflow id.

    The SDK asks ``with_context`` for every payload a workflow task carries outside the
    workflow's own context (local activity inputs and results, with an activity's
    context). Only the codec depends on the context, and only on its workflow id (the
    case's scope), yet each call cloned the converter: ``dataclasses.replace`` and a new
    pydantic payload converter, 7% of the worker's event loop in
    ``bench.profile_worker``. Here the clone is made once per workflow id, kept while
    the workflow is among the ``size`` most recent."""

    size: int = 4096
    _clones: OrderedDict[str, DataConverter] = dataclasses.field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )

    def with_context(self, context: SerializationContext) -> Self:
        workflow_id = getattr(context, "workflow_id", None)
        if workflow_id is None:
            return super().with_context(context)
        clone = self._clones.get(workflow_id)
        if clone is not None:
            self._clones.move_to_end(workflow_id)
            return clone  # type: ignore[return-value]
        clone = super().with_context(context)
        if (
            clone.payload_converter is not self.payload_converter
            or clone.failure_converter is not self.failure_converter
        ):
            return clone  # a converter besides the codec takes the context: not kept
        self._clones[workflow_id] = clone
        if len(self._clones) > self.size:
            self._clones.popitem(last=False)
        return clone


def data_converter(ring: KeyRing) -> DataConverter:
    """The one converter for clients, workers and replays: pydantic JSON, then AES-GCM.

    Failure messages and stack traces are encrypted too (they can quote a case).
    """
    settings = {
        f.name: getattr(pydantic_data_converter, f.name)
        for f in dataclasses.fields(pydantic_data_converter)
        if f.init
    }
    settings.update(
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
    return ScopedDataConverter(**settings)
