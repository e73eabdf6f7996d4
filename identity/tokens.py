"""Bearer tokens (OIDC access tokens, JWT) verified against the issuer's JWKS.

Checked: the signature with a key the JWKS holds (by ``kid``), the algorithm against
an allow-list (never ``none``, never HMAC: a public key must not double as a secret),
issuer, audience, expiry and not-before with a small clock skew, and the claims this
project needs:

========== ==========================================================================
claim      meaning
========== ==========================================================================
``sub``    the person's (or service's) stable id
``name``   the person's name as events record it (``sub`` when absent)
``unit``   the unit the person acts for, as the domain names units
``roles``  list of roles (``identity/roles.py``)
``juris``  the unit's jurisdiction, top first: ``["新疆维吾尔自治区", "喀什地区"]``
``azp``    the client the token was issued to (a backend service's identity)
========== ==========================================================================
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from petitionflow.domain.values import Actor, Jurisdiction

from .roles import MATRIX, SCOPES, Role, Scope

ALGORITHMS = ("RS256", "ES256", "EdDSA")


class IdentityError(Exception):
    """The token was refused; ``code`` is stable (the README lists them)."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller."""

    subject: str
    person: str
    unit: str
    roles: frozenset[Role]
    jurisdiction: Jurisdiction
    client: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(unit=self.unit, person=self.person)

    def scopes_for(self, permission: str) -> set[Scope]:
        """The scopes in which this principal holds ``permission`` (empty: not at all)."""
        return {SCOPES[r] for r in self.roles if permission in MATRIX[r]}


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    def text(name: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > 100:
            raise IdentityError("token_claims_invalid", f"claim {name!r} must be a short string")
        return value.strip()

    subject = text("sub", claims.get("sub"))
    roles_claim = claims.get("roles")
    if not isinstance(roles_claim, list) or not roles_claim:
        raise IdentityError("token_claims_invalid", "claim 'roles' must be a non-empty list")
    if not all(isinstance(r, str) for r in roles_claim):
        raise IdentityError("token_claims_invalid", "claim 'roles' must list role names")
    known = {r.value for r in Role}
    unknown = [r for r in roles_claim if r not in known]
    if unknown:
        raise IdentityError(
            "token_claims_invalid",
            f"unknown role(s) {unknown}; known: {', '.join(sorted(known))}",
        )
    path = claims.get("juris")
    if not isinstance(path, list) or not 1 <= len(path) <= 4:
        raise IdentityError(
            "token_claims_invalid", "claim 'juris' must list 1 to 4 places, top first"
        )
    try:
        place = Jurisdiction(
            **dict(zip(("region", "prefecture", "county", "township"), path, strict=False))
        )
    except ValueError as exc:
        raise IdentityError("token_claims_invalid", f"claim 'juris': {exc}") from None
    client = claims.get("azp") or claims.get("client_id")
    return Principal(
        subject=subject,
        person=text("name", claims.get("name", subject)),
        unit=text("unit", claims.get("unit")),
        roles=frozenset(Role(r) for r in roles_claim),
        jurisdiction=place,
        client=text("azp", client) if client is not None else None,
    )


class TokenVerifier:
    """Verifies bearer tokens against a JWKS URL (the issuer's, fetched and cached) or
    a fixed key set (tests, and an issuer whose keys are pinned)."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        algorithms: Sequence[str] = ALGORITHMS,
        leeway_seconds: int = 60,
    ) -> None:
        if (jwks_url is None) == (jwks is None):
            raise ValueError("give jwks_url or jwks")
        refused = {a for a in algorithms if a == "none" or a.startswith("HS")}
        if refused:
            raise ValueError(f"algorithms {sorted(refused)} are not allowed for bearer tokens")
        self.issuer, self.audience = issuer, audience
        self.algorithms = list(algorithms)
        self.leeway = leeway_seconds
        self._client = PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._keys = PyJWKSet.from_dict(dict(jwks)) if jwks is not None else None

    def _key(self, token: str, header: Mapping[str, Any]) -> PyJWK:
        kid = header.get("kid")
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token)
            except jwt.PyJWKClientConnectionError as exc:
                raise IdentityError(
                    "issuer_unreachable", f"cannot fetch the issuer's keys: {exc}"
                ) from None
            except jwt.PyJWKClientError:
                raise IdentityError(
                    "token_unknown_key", f"the issuer's key set has no key {kid!r}"
                ) from None
        assert self._keys is not None
        for key in self._keys.keys:
            if key.key_id == kid:
                return key
        raise IdentityError("token_unknown_key", f"the issuer's key set has no key {kid!r}")

    def verify_sync(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise IdentityError("token_invalid", "the bearer token is not a JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise IdentityError(
                "token_algorithm_refused",
                f"alg {alg!r} is not accepted; accepted: {', '.join(self.algorithms)}",
            )
        key = self._key(token, header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise IdentityError("token_expired", "the token has expired; get a new one") from None
        except jwt.InvalidAudienceError:
            raise IdentityError(
                "token_wrong_audience", f"the token is not for {self.audience!r}"
            ) from None
        except jwt.InvalidIssuerError:
            raise IdentityError(
                "token_wrong_issuer", f"the token was not issued by {self.issuer!r}"
            ) from None
        except jwt.InvalidSignatureError:
            raise IdentityError("token_invalid", "the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise IdentityError("token_claims_invalid", str(exc)) from None
        except jwt.InvalidTokenError as exc:
            raise IdentityError("token_invalid", str(exc)) from None
        return principal_from_claims(claims)

    async def verify(self, token: str) -> Principal:
        if self._client is not None:  # may fetch the JWKS over HTTP: off the event loop
            return await asyncio.to_thread(self.verify_sync, token)
        return self.verify_sync(token)
