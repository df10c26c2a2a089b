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
from collections.abc import Sequence

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


MIN_SECRET_BYTES = 16


class LinkSealer:
    """Seals payloads into tokens with the first secret and opens them with any.

    Several secrets make rotation possible: deploy ``new,old`` on every node,
    and links sealed under the old secret keep working until they expire;
    then drop ``old``. No secret at all means a random key for this process
    (``ephemeral``): links die with it.
    """

    def __init__(self, secrets: str | bytes | Sequence[str | bytes] | None) -> None:
        if isinstance(secrets, str | bytes):
            secrets = [secrets]
        self.ephemeral = not secrets
        keys = [derive_key(s) for s in secrets] if secrets else [os.urandom(32)]
        self._aeads = [AESGCM(k) for k in keys]
        self._aead = self._aeads[0]

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
        plain = self._decrypt(raw[1:13], raw[13:])
        (expires_at,) = _EXPIRY.unpack_from(plain)
        if (time.time() if now is None else now) >= expires_at:
            raise TokenExpired(expires_at)
        return zlib.decompress(plain[_EXPIRY.size :]), expires_at

    def _decrypt(self, nonce: bytes, sealed: bytes) -> bytes:
        for aead in self._aeads:
            try:
                return aead.decrypt(nonce, sealed, VERSION)
            except InvalidTag:
                continue
        raise TokenInvalid("authentication failed under every secret")
