"""Credentials of the Basware sandbox: which scopes a token carries, and its claims.

Tokens are HS256 JWTs signed with a key kept in the state dir, so any process serving that dir
accepts tokens any other one issued; they carry the granted scopes and an expiry (`exp`, seconds,
fractional so lifetimes of a second or two can be tested).
"""

import secrets

from p2p_assets.sandbox import credentials

SCOPES = ("dataExtract.read", "dataExtract.write")


def issue_token(key: bytes, subject: str, scopes: list[str], lifetime: float, now: float) -> str:
    claims = {
        "iss": "basware-sandbox",
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": int(now),
        "exp": now + lifetime,
        "jti": secrets.token_hex(8),
    }
    return credentials.sign(key, claims, kid="sandbox")


def verify_token(key: bytes, token: str, now: float) -> dict | None:
    """The token's claims when the signature is ours and it has not expired, else None."""
    return credentials.verify(key, token, now)


def granted_scopes(requested: str) -> list[str]:
    """Known scopes among those requested; unknown or misspelled ones are ignored silently."""
    granted: list[str] = []
    for scope in requested.split():
        if scope in SCOPES and scope not in granted:
            granted.append(scope)
    return granted
