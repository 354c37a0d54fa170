"""Problem ``title``s in the caller's language: Simplified Chinese when the request's
``Accept-Language`` prefers it over English, else the HTTP reason phrase.

The Chinese titles live in the UI's catalogue (``api/static/i18n/zh-CN.json``, keys
``problem.<status>``), so the dashboard and the API speak with one vocabulary. The
``detail`` stays in English: it is precise, and logs and integrators read it.
"""

from __future__ import annotations

import json
from functools import cache
from http import HTTPStatus
from importlib import resources

_MAX_HEADER = 500   # a longer Accept-Language is read only this far


@cache
def _chinese() -> dict[int, str]:
    text = resources.files("api").joinpath("static/i18n/zh-CN.json").read_text(encoding="utf-8")
    return {int(key.removeprefix("problem.")): value for key, value in json.loads(text).items()
            if key.startswith("problem.") and key.removeprefix("problem.").isdigit()}


def _weight(part: str) -> tuple[str, float]:
    tag, _, params = part.strip().partition(";")
    quality = 1.0
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
    return tag.strip().lower(), quality


def prefers_chinese(accept_language: str | None) -> bool:
    """Whether a Chinese tag (zh, zh-CN, zh-Hans…) weighs more than any English one."""
    if not accept_language:
        return False
    weights = [_weight(part) for part in accept_language[:_MAX_HEADER].split(",") if part.strip()]
    zh = max((q for tag, q in weights if tag == "zh" or tag.startswith("zh-")), default=0.0)
    en = max((q for tag, q in weights if tag == "en" or tag.startswith("en-")), default=0.0)
    return zh > 0 and zh >= en and not (zh == en and _first_is_english(weights))


def _first_is_english(weights: list[tuple[str, float]]) -> bool:
    best = max(q for _, q in weights)
    first = next(tag for tag, q in weights if q == best)
    return first == "en" or first.startswith("en-")


def title(status: int, accept_language: str | None = None) -> str:
    """The problem's title for ``status`` in the language the caller asked for."""
    if prefers_chinese(accept_language) and status in _chinese():
        return _chinese()[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
