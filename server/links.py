"""Download links: the plan request sealed into an opaque, expiring token.

The token is the normalised request plus an expiry, encrypted and
authenticated with AES-GCM under a key derived from the server's secret. So a
URL reveals no name or score, a changed byte makes it unknown (404), and any
process holding the same secret can serve it: nodes keep no state.

Layout: ``version(1) | nonce(12) | AES-GCM(key, nonce, expiry(8) | payload)``,
base64url without padding. The version byte is also authenticated data, so a
future format can be told apart. The payload is zlib-compressed canonical
JSON, which keeps URLs short.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import LinkExpired, LinkNotFound

VERSION = b"\x01"
_EXPIRY = struct.Struct(">Q")
MAX_TOKEN_LEN = 4096


class TokenInvalid(LinkNotFound):
    """Not a token of ours: malformed, tampered with, or sealed under another secret.

    The client is told only "unknown download link"; ``reason`` is for tests and debugging.
    """

    def __init__(self, reason: str) -> None:
        super().__init__("unknown download link")
        self.reason = reason


class TokenExpired(LinkExpired):
    """A genuine token whose expiry has passed."""

    def __init__(self, expired_at: int) -> None:
        super().__init__("this download link has expired; create the plan again")
        self.expired_at = expired_at


def derive_key(secret: str | bytes) -> bytes:
    """A 256-bit AES key from any secret string (the secret may be a passphrase)."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hashlib.blake2b(raw, digest_size=32, person=b"planstream-link").digest()


class LinkSealer:
    """Seals payloads into tokens and opens them again."""

    def __init__(self, secret: str | bytes | None) -> None:
        self.ephemeral = secret is None
        self._aead = AESGCM(derive_key(secret if secret is not None else os.urandom(32)))

    def seal(self, payload: bytes, expires_at: int) -> str:
        nonce = os.urandom(12)
        plain = _EXPIRY.pack(expires_at) + zlib.compress(payload, 9)
        sealed = VERSION + nonce + self._aead.encrypt(nonce, plain, VERSION)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, token: str, now: float | None = None) -> tuple[bytes, int]:
        """The payload and expiry; TokenInvalid or TokenExpired otherwise."""
        if not token or len(token) > MAX_TOKEN_LEN or not token.isascii():
            raise TokenInvalid("bad length")
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        except (ValueError, TypeError) as exc:
            raise TokenInvalid("not base64url") from exc
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
            raise TokenInvalid("not in canonical form")  # one token, one spelling
        if len(raw) < 1 + 12 + 16 + _EXPIRY.size or raw[:1] != VERSION:
            raise TokenInvalid("bad version or length")
        try:
            plain = self._aead.decrypt(raw[1:13], raw[13:], VERSION)
        except InvalidTag as exc:
            raise TokenInvalid("authentication failed") from exc
        (expires_at,) = _EXPIRY.unpack_from(plain)
        if (time.time() if now is None else now) >= expires_at:
            raise TokenExpired(expires_at)
        return zlib.decompress(plain[_EXPIRY.size :]), expires_at
