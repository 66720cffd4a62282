"""Password hashing with argon2id (argon2-cffi); verification is constant-time per hash."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2id, 64 MiB, 3 passes (argon2-cffi's defaults) in ONE lane: a check then uses one core
# (4 lanes ran 4 threads and took every core of a small central from the API during a login
# burst, issue 12); stronger than OWASP's minimum. Older 4-lane hashes are re-hashed at the
# next successful login (needs_rehash).
_HASHER = PasswordHasher(parallelism=1)
# A real hash of a random string: verifying against it costs the same as a real account, so
# the response time does not tell whether a user name exists.
_DUMMY = _HASHER.hash("kotanet-noc-no-such-user")


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _HASHER.hash(password)


def verify_password(pw_hash: str | None, password: str) -> bool:
    """True if the password matches; a None hash burns the same time and returns False."""
    try:
        return _HASHER.verify(pw_hash or _DUMMY, password) and pw_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(pw_hash: str) -> bool:
    """True if the hash uses weaker parameters than the current ones."""
    return _HASHER.check_needs_rehash(pw_hash)
