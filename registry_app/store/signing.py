"""HMAC signing with ``http.secret`` for everything that leaves our hands.

Upload URLs carry a signed state token, and upload state records in storage
are signed too: both come back from outside (a client, a disk, a bucket) and
are only trusted when their MAC matches.  Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json


class BadSignature(ValueError):
    pass


class Signer:
    def __init__(self, secret: str):
        if not secret:
            raise ValueError("an HMAC secret is required")
        self._key = hashlib.sha256(b"registry-app/v1\0" + secret.encode()).digest()

    def _mac(self, purpose: str, payload: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode() + b"\0" + payload, hashlib.sha256).digest()

    def sign_token(self, purpose: str, fields: dict) -> str:
        """A URL-safe ``payload.mac`` token."""
        payload = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).rstrip(b"=")
        mac = base64.urlsafe_b64encode(self._mac(purpose, payload)).rstrip(b"=")
        return (payload + b"." + mac).decode()

    def verify_token(self, purpose: str, token: str) -> dict:
        try:
            payload, mac = token.encode("ascii").split(b".")
            given = base64.urlsafe_b64decode(mac + b"=" * (-len(mac) % 4))
        except (ValueError, UnicodeEncodeError):
            raise BadSignature("malformed token") from None
        if not hmac.compare_digest(given, self._mac(purpose, payload)):
            raise BadSignature("signature mismatch")
        try:
            fields = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        except ValueError:
            raise BadSignature("malformed payload") from None
        if not isinstance(fields, dict):
            raise BadSignature("malformed payload")
        return fields

    def seal(self, purpose: str, data: bytes) -> bytes:
        """``mac || data`` for a record kept in storage."""
        return self._mac(purpose, data) + data

    def unseal(self, purpose: str, sealed: bytes) -> bytes:
        mac, data = sealed[:32], sealed[32:]
        if len(mac) != 32 or not hmac.compare_digest(mac, self._mac(purpose, data)):
            raise BadSignature("stored record signature mismatch")
        return data
