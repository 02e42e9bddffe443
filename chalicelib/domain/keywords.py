"""What an inbound text means: opt-out, opt-in, help, the shop's join keyword, a confirmation, or talk."""

from __future__ import annotations

import re
from enum import Enum

# CTIA and the carriers' opt-out vocabulary (DESIGN invariant 1). Matching is on the whole message.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT-OUT", "REMOVE", "ARRET", "TD"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
CONFIRM_WORDS = frozenset({"Y", "YES"})
RESERVED_WORDS = OPT_OUT_WORDS | OPT_IN_WORDS | HELP_WORDS | CONFIRM_WORDS

_KEYWORD_SHAPE = re.compile(r"^[A-Z0-9]{2,20}$")
_TRAILING_PUNCTUATION = ".!?,;:"


class Intent(str, Enum):
    """What the subscriber asked for."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    JOIN = "join"
    CONFIRM = "confirm"
    MESSAGE = "message"


def canonical(text: str) -> str:
    """Upper-case, trimmed, inner whitespace folded, trailing punctuation dropped ('  stop! ' -> 'STOP')."""
    folded = " ".join(text.split()).upper()
    return folded.rstrip(_TRAILING_PUNCTUATION).strip()


def classify(text: str, *, join_keyword: str | None) -> Intent:
    """The intent of an inbound ``text`` for a shop whose opt-in keyword is ``join_keyword``."""
    word = canonical(text)
    if word in OPT_OUT_WORDS:
        return Intent.OPT_OUT
    if word in OPT_IN_WORDS:
        return Intent.OPT_IN
    if word in HELP_WORDS:
        return Intent.HELP
    if word in CONFIRM_WORDS:
        return Intent.CONFIRM
    if join_keyword and word == join_keyword.upper():
        return Intent.JOIN
    return Intent.MESSAGE


def validate_join_keyword(keyword: str) -> str:
    """The canonical form of a shop keyword; ValueError when it is malformed or reserved."""
    word = canonical(keyword)
    if not _KEYWORD_SHAPE.match(word):
        raise ValueError("keyword must be 2-20 letters or digits")
    if word in RESERVED_WORDS:
        raise ValueError(f"{word} is reserved for opt-out, opt-in, help or confirmation")
    return word
