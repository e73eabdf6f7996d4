"""The petitioner index's keyed hash: HMAC-SHA256 with a key of its own.

The index (``eventstore/index.py``) holds, per case, HMAC-SHA256 of the petitioner's
normalised ID number, and of the normalised phone and name (``domain/repeat.py``
normalises them): never the values. Without the key the hashes cannot be tested
against a guessed ID number, which a plain SHA-256 of an 18-character ID with a
known structure would allow in minutes. The key is ``PETITIONFLOW_INDEX_KEYS``, a
ring of its own: it must not be the payload or sealing key, so that giving an
operator a way to look people up never gives a way to decrypt their petitions.

Rotation: a new key goes first. New entries are made with it; a lookup hashes with
every key of the ring, so entries made with an older key are still found.
"""

from __future__ import annotations

import hashlib
import hmac

from .keys import KeyRing


class PetitionerHasher:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def __repr__(self) -> str:
        return f"PetitionerHasher({self.ring!r})"

    def digest(self, text: str, key: bytes) -> str:
        return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def newest(self, text: str) -> tuple[str, str]:
        """(key id, hash) with the newest key: what a new entry stores."""
        key_id, key = self.ring.newest
        return key_id, self.digest(text, key)

    def all(self, text: str) -> list[str]:
        """The hash under every key of the ring: what a lookup searches for."""
        return [self.digest(text, key) for _, key in self.ring.keys]
