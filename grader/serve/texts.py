"""The students' pages in their language: ``messages/en.toml`` and ``ko.toml`` beside this module (kept
apart from ``grader/messages`` so that the students' handout, which ships those, does not grow)."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

from grader.compat import tomllib
from grader.i18n import DEFAULT, LANGUAGES


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("grader.serve").joinpath("messages", f"{lang}.toml").read_text(encoding="utf-8")
    return {f"{section}.{key}": str(value) for section, entries in tomllib.loads(text).items()
            for key, value in entries.items()}


def text(lang: str, key: str, **params) -> str:
    template = catalogue(lang if lang in LANGUAGES else DEFAULT).get(key) or catalogue(DEFAULT)[key]
    return template.format(**params)


def asked_language(locale: str | None) -> str | None:
    """The kit's language a launch's locale ("ko-KR") asks for, if it is one of them."""
    asked = (locale or "")[:2].lower()
    return asked if asked in LANGUAGES else None


def language(locale: str | None) -> str:
    """A launch's locale as one of the kit's languages; English otherwise."""
    return asked_language(locale) or DEFAULT
