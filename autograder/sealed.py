"""Answer files are sealed: encrypted and authenticated with the course key.

A submission runs in a kernel on the same machine as the answer files. Sealing keeps a
submission that scans the disk for answers from reading them (it would also need the
key and this private code, neither of which is released). The key is
``$COURSE_ANSWER_KEY`` when set, else ``autograder/answer.key`` (private repository only).

Format: ``MAGIC | nonce (16) | tag (32) | ciphertext``. The keystream is SHA-256 in
counter mode over ``key | nonce | counter``; the tag is HMAC-SHA256 over nonce and
ciphertext. The nonce is derived from the plaintext, so sealing is deterministic and
regenerated answer files do not drift.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

MAGIC = b"DLCOURSE-SEALED-1\n"
KEY_FILE = Path(__file__).resolve().parent / "answer.key"


class SealError(ValueError):
    """The file is not a sealed answer file, or it was altered, or the key is wrong."""


def course_key() -> bytes:
    text = os.environ.get("COURSE_ANSWER_KEY") or KEY_FILE.read_text().strip()
    return hashlib.sha256(text.encode()).digest()


def _keystream(key: bytes, nonce: bytes, n: int) -> bytes:
    blocks = []
    for counter in range((n + 31) // 32):
        blocks.append(hashlib.sha256(key + nonce + counter.to_bytes(8, "little")).digest())
    return b"".join(blocks)[:n]


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def seal(plaintext: bytes, key: bytes | None = None) -> bytes:
    key = key or course_key()
    nonce = hmac.new(key, b"nonce" + plaintext, hashlib.sha256).digest()[:16]
    ciphertext = _xor(plaintext, _keystream(key, nonce, len(plaintext)))
    tag = hmac.new(key, nonce + ciphertext, hashlib.sha256).digest()
    return MAGIC + nonce + tag + ciphertext


def unseal(blob: bytes, key: bytes | None = None) -> bytes:
    key = key or course_key()
    if not blob.startswith(MAGIC):
        raise SealError("not a sealed answer file")
    body = blob[len(MAGIC):]
    nonce, tag, ciphertext = body[:16], body[16:48], body[48:]
    expected = hmac.new(key, nonce + ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(tag, expected):
        raise SealError("answer file was altered or the course key is wrong")
    return _xor(ciphertext, _keystream(key, nonce, len(ciphertext)))
