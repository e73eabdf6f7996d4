"""Fixed keys for tests and replay fixtures only (never used outside tests)."""

from petitionflow.security.codec import data_converter
from petitionflow.security.index import PetitionerHasher
from petitionflow.security.keys import KeyRing, Keys
from petitionflow.security.sealing import Sealer

TEST_KEYS = Keys(
    payload=KeyRing((("test-payload-1", bytes(range(32))),)),
    sealing=KeyRing((("test-sealing-1", bytes(range(32, 64))),)),
    index=KeyRing((("test-index-1", bytes(range(64, 96))),)),
)
CONVERTER = data_converter(TEST_KEYS.payload)
SEALER = Sealer(TEST_KEYS.sealing)
assert TEST_KEYS.index is not None
HASHER = PetitionerHasher(TEST_KEYS.index)
