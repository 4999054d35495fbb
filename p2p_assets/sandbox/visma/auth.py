"""Bearer tokens of the sandbox: HS256 JWTs signed with a key kept in the state dir, so any
process serving that dir accepts tokens any other one issued.

A Visma Connect token binds the tenant (`tenant` claim); a legacy `api.raet.com` token does not,
and calls made with it name the tenant in `x-raet-tenant-id`.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import UTC, datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(key: bytes, client_id: str, tenant: str | None, lifetime: float, now: float) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": "visma-sandbox"}
    claims = {
        "iss": "visma-sandbox",
        "client_id": client_id,
        "tenant": tenant,
        "iat": int(now),
        "exp": now + lifetime,
        "jti": secrets.token_hex(8),
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def verify_token(key: bytes, token: str, now: float) -> dict | None:
    """The token's claims when the signature is ours and it has not expired, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict) or float(claims.get("exp", 0)) <= now:
        return None
    return claims


def unauthorized_body() -> dict:
    """The manual's 401 payload."""
    return {
        "message": "Authentication Error",
        "correlationId": str(uuid.uuid4()),
        "issuedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "errorCode": "unauthorized",
        "statusCode": 401,
    }
