"""Fixed keys for tests and replay fixtures only (never used outside tests)."""

from petitionflow.security.codec import data_converter
from petitionflow.security.keys import KeyRing, Keys
from petitionflow.security.sealing import Sealer

TEST_KEYS = Keys(
    payload=KeyRing((("test-payload-1", bytes(range(32))),)),
    sealing=KeyRing((("test-sealing-1", bytes(range(32, 64))),)),
)
CONVERTER = data_converter(TEST_KEYS.payload)
SEALER = Sealer(TEST_KEYS.sealing)
