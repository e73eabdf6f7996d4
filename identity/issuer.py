"""A local token issuer for development: ``petition dev`` and ``petition token``.

It holds one EC P-256 key in ``data/issuer.json`` (mode 600), signs ES256 tokens with
the claims ``identity/tokens.py`` reads, and publishes its key set (JWKS) and an
OpenID discovery document, so the API verifies its tokens exactly as it verifies a
real issuer's. Production points the API at the real issuer's JWKS URL instead
(``PETITIONFLOW_OIDC_ISSUER``, ``..._JWKS_URL``).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from petitionflow.security.files import write_private_json

from .roles import Role

DEV_AUDIENCE = "petitionflow-api"


class DevIssuer:
    def __init__(self, key: ec.EllipticCurvePrivateKey, kid: str, issuer: str) -> None:
        self.key, self.kid, self.issuer = key, kid, issuer

    @classmethod
    def load_or_create(cls, path: Path, issuer: str) -> DevIssuer:
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            key = serialization.load_pem_private_key(data["private_key"].encode(), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return cls(key, data["kid"], data.get("issuer", issuer))
        key = ec.generate_private_key(ec.SECP256R1())
        kid = "dev-" + secrets.token_hex(4)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private_json(path, {"kid": kid, "issuer": issuer, "private_key": pem})
        return cls(key, kid, issuer)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        public.update(kid=self.kid, use="sig", alg="ES256")
        return {"keys": [public]}

    def discovery(self, jwks_uri: str) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "id_token_signing_alg_values_supported": ["ES256"],
        }

    def token(
        self,
        *,
        unit: str,
        roles: Sequence[Role | str],
        jurisdiction: Sequence[str],
        person: str | None = None,
        client: str | None = None,
        audience: str = DEV_AUDIENCE,
        ttl_seconds: int = 8 * 3600,
        **extra: Any,
    ) -> str:
        now = int(time.time())
        subject = person or f"{unit}/staff"
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "name": person or subject,
            "unit": unit,
            "roles": [str(r) for r in roles],
            "juris": list(jurisdiction),
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": secrets.token_hex(8),
        }
        if client:
            claims["azp"] = client
        claims.update(extra)
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid})
