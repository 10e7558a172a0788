"""Student-facing texts: one catalogue file per language, messages as (key, params) data.

Code never holds a sentence a student reads; it raises or returns a ``Message`` and the text
is rendered at the edge, in the language chosen by ``--lang``, the assignment config, or the
locale (default English). ``tests/test_i18n.py`` fails if a key is missing in any language.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from grader.compat import tomllib

LANGUAGES = ("en", "ko")
DEFAULT = "en"


@dataclass(frozen=True)
class Message:
    key: str
    params: dict = field(default_factory=dict)

    def render(self, lang: str = DEFAULT, extra: dict[str, str] | None = None) -> str:
        return render(self, lang, extra)

    def __str__(self) -> str:
        return self.render(DEFAULT)


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("grader").joinpath("messages", f"{lang}.toml").read_text(encoding="utf-8")
    return _flatten(tomllib.loads(text))


@lru_cache(maxsize=None)
def assignment_catalogue(folder: str, lang: str) -> dict[str, str]:
    """Per-assignment texts (test titles): ``assignments/<id>/messages/<lang>.toml``."""
    path = Path(folder, "messages", f"{lang}.toml")
    return _flatten(tomllib.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}


def assignment_title(folder: str, lang: str, default: str) -> str:
    """The assignment's title in ``lang`` (``title`` in its messages), else in English, else ``default``."""
    return assignment_catalogue(folder, lang).get("title") or assignment_catalogue(folder, DEFAULT).get("title") \
        or default


def _flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def render(message: Message, lang: str = DEFAULT, extra: dict[str, str] | None = None) -> str:
    texts = {**catalogue(lang), **(extra or {})}
    template = texts.get(message.key) or catalogue(DEFAULT).get(message.key) or message.key
    params = {k: (v.render(lang, extra) if isinstance(v, Message) else v) for k, v in message.params.items()}
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def choose_language(requested: str | None, configured: str | None = None) -> str:
    """``--lang`` first, then the assignment's setting, then the locale, then English."""
    for candidate in (requested, configured):
        if candidate in LANGUAGES:
            return candidate
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value[:2] in LANGUAGES:
            return value[:2]
    return DEFAULT
