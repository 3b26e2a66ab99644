"""Passwords (argon2; new ones judged by zxcvbn), session tokens, CSRF tokens and pipeline
API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# A hash to verify against when the user does not exist, so that a wrong user name costs the
# same time as a wrong password and timing does not tell which user names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

API_KEY_PREFIX = "etq"
MIN_PASSWORD_LENGTH = 10
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0..4: 3 is "safely unguessable", about 10^8 guesses or more


def new_password() -> str:
    """A password an admin hands to a user (reset): 16 random characters, far above the policy."""
    return secrets.token_urlsafe(12)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, user_inputs: Sequence[str] = ()) -> str | None:
    """Why a new password is refused, in Chinese for the user, or None.

    zxcvbn estimates how many guesses the password takes against common passwords, words,
    names, keyboard patterns, sequences, repeats and dates, and against `user_inputs` (the
    user's own name and login); fewer than about 10^8 guesses (score < 3) is refused.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"密码至少 {MIN_PASSWORD_LENGTH} 个字符"
    # zxcvbn refuses more than 72 characters (its cost grows with the length): judge the start.
    result = zxcvbn(password[:72], user_inputs=[u for u in user_inputs if u])
    score = int(result["score"])
    if score >= MIN_PASSWORD_SCORE:
        return None
    reasons = _weaknesses(result["sequence"]) or ["组合太有规律"]
    warning = str(result["feedback"].get("warning") or "easy to guess")
    return (f"密码太容易被猜到（强度 {score}/4，至少需要 {MIN_PASSWORD_SCORE}）："
            f"{'；'.join(reasons)}。请换一个更长、不含常见词语、姓名、用户名和键盘顺序的密码，"
            f"例如几个不相关的词加上数字和符号 (weak password: {warning})")


def _weaknesses(matches: Iterable[Mapping[str, Any]]) -> list[str]:
    """What zxcvbn found in the password, said in Chinese, each once."""
    found: list[str] = []
    for match in matches:
        pattern = match.get("pattern")
        if pattern == "dictionary":
            name = match.get("dictionary_name")
            if name == "user_inputs":
                text = "含有用户名或姓名"
            elif name == "passwords":
                text = "是常见密码或其变形"
            else:
                text = "由常见的英文单词或人名组成"
            if match.get("l33t"):
                text += "（把字母换成形近的数字或符号也容易被猜到）"
            if match.get("reversed"):
                text += "（倒过来写也容易被猜到）"
        else:
            text = _PATTERNS.get(str(pattern), "")
        if text and text not in found:
            found.append(text)
        if pattern == "repeat":  # what is repeated may be a word or a name itself
            found += [t for t in _weaknesses(match.get("base_matches") or []) if t not in found]
    return found


_PATTERNS = {
    "spatial": "是键盘上相邻按键的顺序（如 qwerty、asdf）",
    "repeat": "有重复的字符或片段（如 aaa、abcabc）",
    "sequence": "有连续的字母或数字（如 abc、1234）",
    "regex": "含有年份",
    "date": "含有日期",
}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Session tokens and API key secrets are random and long: sha256 is the right hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_api_key() -> tuple[str, str, str]:
    """(key shown once to the operator, its prefix for lookup, the hash to store)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{API_KEY_PREFIX}_{prefix}_{secret}", prefix, token_hash(secret)


def split_api_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]
