"""Fixed keys for tests and replay fixtures only (never used outside tests)."""

from security.codec import data_converter
from security.keys import KeyRing, Keys
from security.sealing import Sealer

TEST_KEYS = Keys(
    payload=KeyRing((("test-payload-1", bytes(range(32))),)),
    sealing=KeyRing((("test-sealing-1", bytes(range(32, 64))),)),
)
CONVERTER = data_converter(TEST_KEYS.payload)
SEALER = Sealer(TEST_KEYS.sealing)
