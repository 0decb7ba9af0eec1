"""Tokenisers: Kim's ``clean_str`` normalisation and a character tokeniser for unspaced scripts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_KIM_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[^A-Za-z0-9(),!?'`]"), " "),
    (re.compile(r"'s"), " 's"),
    (re.compile(r"'ve"), " 've"),
    (re.compile(r"n't"), " n't"),
    (re.compile(r"'re"), " 're"),
    (re.compile(r"'d"), " 'd"),
    (re.compile(r"'ll"), " 'll"),
    (re.compile(r","), " , "),
    (re.compile(r"!"), " ! "),
    (re.compile(r"\("), " ( "),
    (re.compile(r"\)"), " ) "),
    (re.compile(r"\?"), " ? "),
]


def clean_str(text: str, lowercase: bool = True) -> str:
    """Kim (2014)'s normalisation, minus the stray backslashes his replacements leave."""
    for pattern, repl in _KIM_RULES:
        text = pattern.sub(repl, text)
    text = " ".join(text.split())
    return text.lower() if lowercase else text


def kim_tokens(text: str, lowercase: bool = True) -> list[str]:
    return clean_str(text, lowercase).split()


def char_tokens(text: str, lowercase: bool = True) -> list[str]:
    """One token per non-space character: for Chinese, Japanese and other unspaced text."""
    return [c for c in (text.lower() if lowercase else text) if not c.isspace()]


def whitespace_tokens(text: str, lowercase: bool = True) -> list[str]:
    return (text.lower() if lowercase else text).split()


TOKENIZERS: dict[str, Callable[[str, bool], list[str]]] = {
    "kim": kim_tokens,
    "char": char_tokens,
    "whitespace": whitespace_tokens,
}


def get_tokenizer(name: str) -> Callable[[str, bool], list[str]]:
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    return TOKENIZERS[name]


def tokenizer_spec(name: str) -> dict[str, Any]:
    """Tokeniser ``name`` as data, so that code in any language can reproduce it: the
    regular-expression substitutions applied in order, then lowercasing (when the processor
    asks for it), then a split on whitespace or into non-space characters."""
    get_tokenizer(name)
    rules = _KIM_RULES if name == "kim" else []
    return {
        "name": name,
        "rules": [[pattern.pattern, repl] for pattern, repl in rules],
        "split": "characters" if name == "char" else "whitespace",
    }
