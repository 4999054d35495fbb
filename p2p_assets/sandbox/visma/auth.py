"""Bearer tokens of the sandbox: HS256 JWTs signed with a key kept in the state dir, so any
process serving that dir accepts tokens any other one issued.

A Visma Connect token binds the tenant (`tenant` claim); a legacy `api.raet.com` token does not,
and calls made with it name the tenant in `x-raet-tenant-id`.
"""

import secrets
import uuid
from datetime import UTC, datetime

from p2p_assets.sandbox import credentials


def issue_token(key: bytes, client_id: str, tenant: str | None, lifetime: float, now: float) -> str:
    claims = {
        "iss": "visma-sandbox",
        "client_id": client_id,
        "tenant": tenant,
        "iat": int(now),
        "exp": now + lifetime,
        "jti": secrets.token_hex(8),
    }
    return credentials.sign(key, claims, kid="visma-sandbox")


def verify_token(key: bytes, token: str, now: float) -> dict | None:
    """The token's claims when the signature is ours and it has not expired, else None."""
    return credentials.verify(key, token, now)


def unauthorized_body(now: float) -> dict:
    """The manual's 401 payload, issued at `now` (the sandbox clock)."""
    return {
        "message": "Authentication Error",
        "correlationId": str(uuid.uuid4()),
        "issuedAt": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "errorCode": "unauthorized",
        "statusCode": 401,
    }
