"""What production refuses as a secret: examples, placeholders and guessable strings.

A token signed with a secret copied from a manifest or a README is a token anyone can
forge, so outside development every process checks at start:

- ``SHARPEYES_JWT_SECRET`` (required) and ``SHARPEYES_BROKER_SECRET`` (when set, and
  whenever ``sharpeyes broker acl|password`` derives passwords from it): no placeholder
  words (CHANGE-ME, changeme, example, placeholder, replace-me, "secret" twice, ...), no
  value this repository ships in its deploy files or docs, no low-entropy string (one
  repeated character, a repeated unit, a run like ``abcdef…``, under ~100 bits);
- the passwords inside ``SHARPEYES_MQTT_URL`` and ``SHARPEYES_DATABASE_URL``: no
  placeholder and no shipped example.

Generate a secret with ``python3 -c "import secrets; print(secrets.token_urlsafe(48))"``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kernel.errors import InvalidError

GENERATE = 'python3 -c "import secrets; print(secrets.token_urlsafe(48))"'

# Compared after lower-casing and dropping everything but letters and digits.
_PLACEHOLDER_WORDS = ("changeme", "example", "placeholder", "replaceme", "yoursecret",
                      "insertsecret", "putsecret", "secrethere", "notsecret", "dontuse",
                      "donotuse", "fixme", "redacted", "xxxxxx")
MIN_BITS = 100.0

# Values the repository has shipped as examples (deploy/.env.example, deploy/k8s, docs);
# tests/deploy checks that every value the deploy files and docs show is refused.
SHIPPED_EXAMPLES = frozenset({
    "CHANGE-ME-at-least-32-characters-long-secret",
    "CHANGE-ME",
})

_REPO = Path(__file__).resolve().parents[1]
_SHOWN = re.compile(
    r"SHARPEYES_(?:JWT|BROKER)_SECRET[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"'#`]+)")
_URL_PASSWORD = re.compile(r"\b(?:postgres(?:ql)?|mqtts?|wss?)://[^:/\s@]+:(?P<value>[^@\s]+)@")


class WeakSecret(InvalidError):
    """A secret production refuses; the message names the variable and says why."""


def placeholder_reason(value: str) -> str | None:
    """Why ``value`` reads as an example or placeholder, or None."""
    if value in SHIPPED_EXAMPLES or value in repository_examples():
        return "it is an example value shipped in this repository's deploy files or docs"
    folded = re.sub(r"[^a-z0-9]", "", value.lower())
    for word in _PLACEHOLDER_WORDS:
        if word in folded:
            return f"it contains the placeholder word {word!r}"
    if folded.count("secret") >= 2:
        return "it repeats the word 'secret'"
    return None


def weakness(value: str) -> str | None:
    """Why ``value`` is unfit as a production secret, or None when it is fit."""
    reason = placeholder_reason(value)
    if reason:
        return reason
    if len(set(value)) < 10:
        return f"it uses only {len(set(value))} distinct characters"
    if _periodic(value):
        return "it is one short piece repeated"
    if _sequential(value):
        return "it is mostly a run of consecutive characters"
    bits = _entropy_bits(value)
    if bits < MIN_BITS:
        return f"it carries about {bits:.0f} bits of entropy; at least {MIN_BITS:.0f} needed"
    return None


def check_secret(variable: str, value: str) -> None:
    """Raise :class:`WeakSecret` when ``value`` may not be used in production."""
    reason = weakness(value)
    if reason:
        raise WeakSecret(f"{variable} is refused in production: {reason}. Generate one with "
                         f"{GENERATE}")


def check_url_password(variable: str, url: str | None) -> None:
    """Refuse a placeholder or example password inside a server URL."""
    if not url:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password is None:
        return
    reason = placeholder_reason(unquote(password))
    if reason:
        raise WeakSecret(f"the password in {variable} is refused in production: {reason}")


@cache
def repository_examples() -> frozenset[str]:
    """Secret values shown in the deploy files and docs next to this package (a source
    checkout or an image that ships them); empty where there are none."""
    return frozenset(_shown_values(_example_files(_REPO)))


def _example_files(repo: Path) -> list[Path]:
    files = [repo / "README.md"]
    for folder, pattern in (("deploy", "*"), ("docs", "*.md")):
        if (repo / folder).is_dir():
            files += [p for p in (repo / folder).rglob(pattern) if p.is_file()]
    return [f for f in files if f.is_file() and f.stat().st_size < 1_000_000]


def _shown_values(files: Iterable[Path]) -> set[str]:
    values: set[str] = set()
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for pattern in (_SHOWN, _URL_PASSWORD):
            values |= {m["value"] for m in pattern.finditer(text)
                       if not m["value"].startswith("$")}
    return values


def _periodic(value: str) -> bool:
    n = len(value)
    return any(n % size == 0 and value == value[:size] * (n // size)
               for size in range(1, n // 2 + 1))


def _sequential(value: str) -> bool:
    steps = [ord(b) - ord(a) for a, b in zip(value, value[1:], strict=False)]
    return bool(steps) and sum(1 for s in steps if abs(s) == 1) >= 0.6 * len(steps)


def _entropy_bits(value: str) -> float:
    """Shannon entropy of the string's own characters times its length: a generous
    estimate (it cannot see dictionary words), good enough to refuse the obvious."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) * n
