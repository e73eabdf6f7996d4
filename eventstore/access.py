"""The petitioner's way into their own case (网上信访): query codes, one-time codes and
short sessions, kept as hashes.

- The query code (查询码) is 128 random bits, given to the petitioner once. The store
  keeps its SHA-256: with that much entropy no salt or slow hash is needed, as nobody
  can guess a code whose hash they hold.
- A one-time code (6 digits) is valid for a few minutes, for a few attempts, once. Its
  hash is taken with the query code's hash, so it is bound to that case.
- A session token (32 random bytes) is valid for a quarter of an hour; stored hashed.
- The phone to send the one-time code to is stored encrypted (AES-GCM with the payload
  key ring, bound to the case id), never in plain text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, insert, select, update

from .schema import petitioner_access as access_t
from .schema import petitioner_otps as otp_t
from .schema import petitioner_sessions as session_t

OTP_TTL = timedelta(minutes=5)
OTP_ATTEMPTS = 5
SESSION_TTL = timedelta(minutes=15)


def _aware(stored: datetime, now: datetime) -> datetime:
    """A stored time as an aware one (SQLite gives naive UTC back)."""
    return stored if stored.tzinfo is not None else stored.replace(tzinfo=now.tzinfo)


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Access:
    case_id: str
    code_hash: str
    phone: str  # encrypted


class PetitionerAccess:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, case_id: str, code_hash: str, phone: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(access_t).values(
                    case_id=case_id, code_hash=code_hash, phone=phone, created_at=now
                )
            )

    def find(self, code_hash: str) -> Access | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(access_t.c.case_id, access_t.c.phone).where(
                    access_t.c.code_hash == code_hash
                )
            ).first()
        return Access(row.case_id, code_hash, row.phone) if row else None

    def _writing(self) -> Connection:
        return self.engine.connect().execution_options(write=True)

    def put_otp(self, code_hash: str, otp: str, now: datetime) -> None:
        """A new one-time code; the earlier ones of this query code stop working."""
        with self._writing() as conn, conn.begin():
            conn.execute(
                update(otp_t)
                .where(otp_t.c.code_hash == code_hash, otp_t.c.used.is_(False))
                .values(used=True)
            )
            conn.execute(
                insert(otp_t).values(
                    code_hash=code_hash,
                    otp_hash=digest(code_hash, otp),
                    expires_at=now + OTP_TTL,
                    attempts=0,
                    used=False,
                )
            )

    def check_otp(self, code_hash: str, otp: str, now: datetime) -> bool:
        """Whether ``otp`` is this query code's current one-time code; each try counts,
        a right one is used up."""
        # the write lock up front (SQLite: BEGIN IMMEDIATE): a deferred transaction that
        # read before another try wrote could not write at all ("database is locked")
        with self._writing() as conn, conn.begin():
            row = conn.execute(
                select(otp_t.c.id, otp_t.c.otp_hash, otp_t.c.expires_at, otp_t.c.attempts)
                .where(otp_t.c.code_hash == code_hash, otp_t.c.used.is_(False))
                .order_by(otp_t.c.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return False
            expires = _aware(row.expires_at, now)
            right = row.otp_hash == digest(code_hash, otp)
            spent = right or row.attempts + 1 >= OTP_ATTEMPTS or expires <= now
            # only if nobody tried it meanwhile: two tries at once must not both count
            # as the first, nor one right code open two sessions (each try is a row
            # update the database orders; the one that lost the race is refused)
            counted = conn.execute(
                update(otp_t)
                .where(
                    otp_t.c.id == row.id,
                    otp_t.c.attempts == row.attempts,
                    otp_t.c.used.is_(False),
                )
                .values(attempts=row.attempts + 1, used=spent)
            )
            return bool(counted.rowcount == 1 and right and expires > now)

    def create_session(self, token: str, case_id: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(session_t).values(
                    token_hash=digest(token), case_id=case_id, expires_at=now + SESSION_TTL
                )
            )

    def session(self, token: str, now: datetime) -> str | None:
        """The case a session token opens, while it is valid."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(session_t.c.case_id, session_t.c.expires_at).where(
                    and_(session_t.c.token_hash == digest(token))
                )
            ).first()
        if row is None:
            return None
        expires = _aware(row.expires_at, now)
        return str(row.case_id) if expires > now else None
