"""Normalise what the user said the way speech arrives, so that equal questions compare equal.

Speech-to-text and typing disagree on case, punctuation, contractions and
hesitations; none of that changes what was asked. :func:`normalize` removes it
and keeps everything that carries meaning:

- case (Unicode case folding) and compatibility forms (NFKC): ``"Hello!"`` and
  ``"hello"`` are the same question;
- punctuation is dropped, except inside numbers (``3.5``, ``10:30``, ``1,000``)
  and for symbols that carry meaning (``2 + 2``, ``50%``, ``$5``);
- dotted abbreviations lose their dots (``a.m.`` -> ``am``), hyphens between
  letters become spaces (``e-mail`` -> ``e mail``);
- common contractions are expanded (``what's`` -> ``what is``, ``don't`` ->
  ``do not``); ambiguous ones (``'d``, a possessive ``'s``) are left alone;
- hesitation sounds (um, uh, erm, hmm) go wherever they are;
- words that are fillers only in some places go only there: ``like`` and
  ``you know`` between commas (``it's, like, big``) or opening the utterance
  before a comma (``like, why?``), but never ``I'd like a coffee``; ``please``
  opening a request or closing one of two words or more (``tell me a joke,
  please``), but not ``say please``; ``so``/``well``/``okay``/``oh`` opening the
  utterance before a comma;
- runs of spaces collapse to one.

A filler is never removed when it is all there is (``"okay"`` stays ``"okay"``),
and ``mhm``/``uh-huh`` are answers, not fillers, so they stay.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Sounds that are never words: removed wherever they appear.
HESITATIONS = frozenset(
    {"um", "umm", "ummm", "uh", "uhh", "uhm", "erm", "ehm", "hmm", "hmmm", "hm", "mmm"}
)

#: Fillers when they stand between clause breaks (commas) or open the utterance before one.
BRACKETED_FILLERS: tuple[tuple[str, ...], ...] = (("like",), ("you", "know"), ("i", "mean"))

#: Discourse markers dropped only when they open the utterance before a comma.
OPENERS = frozenset({"so", "well", "okay", "ok", "oh", "right", "alright", "now"})

#: Politeness that does not change the question, dropped at either end.
POLITE = frozenset({"please", "pls", "plz"})

#: Unambiguous contractions (a possessive ``'s`` or a ``'d`` could mean several things).
CONTRACTIONS: dict[str, str] = {
    "what's": "what is",
    "where's": "where is",
    "who's": "who is",
    "how's": "how is",
    "when's": "when is",
    "why's": "why is",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "here's": "here is",
    "he's": "he is",
    "she's": "she is",
    "let's": "let us",
    "i'm": "i am",
    "you're": "you are",
    "we're": "we are",
    "they're": "they are",
    "i've": "i have",
    "you've": "you have",
    "we've": "we have",
    "they've": "they have",
    "i'll": "i will",
    "you'll": "you will",
    "we'll": "we will",
    "they'll": "they will",
    "it'll": "it will",
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "can't": "cannot",
    "won't": "will not",
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "weren't": "were not",
    "haven't": "have not",
    "hasn't": "has not",
    "shouldn't": "should not",
    "wouldn't": "would not",
    "couldn't": "could not",
    "whats": "what is",
}

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})

# One pass over the text; the order of the alternatives matters.
_TOKEN = re.compile(
    r"""
    (?P<abbr>(?:[^\W\d_]\.){2,})                  # a.m. u.s.a. e.g.
  | (?P<num>\d+(?:[.,:/]\d+)+)                     # 3.5 10:30 1,000 1/2
  | (?P<word>[^\W_]+(?:'[^\W_]+)*)                 # words, with inner apostrophes
  | (?P<sym>[+*/=%<>^&@\#$\u20ac\u00a3\u00b0-])     # symbols that carry meaning
  | (?P<brk>[,;:.!?\u2026()\[\]{}"\u2014\u2013]+)   # clause breaks (feed the filler rules)
    """,
    re.VERBOSE,
)
_LETTER_HYPHEN = re.compile(r"(?<=[^\W\d_])[-/](?=[^\W\d_])")
#: Yes/no sounds spelled with a hyphen: one word each, so "uh" is not taken for a hesitation.
_ANSWER_SOUNDS = re.compile(r"\b(uh|mm|mhm)[- ](huh|oh|hmm|uh)\b")

#: A clause break between tokens (never part of the output).
_BREAK = ","


def normalize(text: str) -> str:
    """The canonical form of ``text`` used to compare what people say (see the module doc)."""
    return _normalize_cached(text)


@lru_cache(maxsize=4096)
def _normalize_cached(text: str) -> str:
    # Voice sessions repeat themselves (that is why there is a buffer), so a
    # small memo makes the repeat lookups nearly free.
    tokens = _tokenize(text)
    words = _drop_fillers(tokens)
    return " ".join(words)


def _tokenize(text: str) -> list[str]:
    """Words, numbers and symbols, with ``,`` standing for every clause break."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    folded = _ANSWER_SOUNDS.sub(r"\1\2", folded)
    folded = _LETTER_HYPHEN.sub(" ", folded)
    tokens: list[str] = []
    for match in _TOKEN.finditer(folded):
        kind = match.lastgroup
        value = match.group()
        if kind == "brk":
            if tokens and tokens[-1] != _BREAK:
                tokens.append(_BREAK)
        elif kind == "abbr":
            tokens.append(value.replace(".", ""))
        elif kind == "word":
            value = value.strip("'")
            expanded = CONTRACTIONS.get(value)
            tokens.extend(expanded.split() if expanded else [value])
        else:
            tokens.append(value)
    while tokens and tokens[-1] == _BREAK:
        tokens.pop()
    return tokens


def _drop_fillers(tokens: list[str]) -> list[str]:
    """Apply the filler rules, never emptying an utterance that had words."""
    kept = _tidy_breaks([token for token in tokens if token not in HESITATIONS])
    kept = _drop_bracketed(kept)
    kept = _drop_opener(kept)
    kept = _drop_polite_ends(kept)
    words = [token for token in kept if token != _BREAK]
    if words:
        return words
    # Only fillers were said ("okay", "please"): they are the utterance.
    return [token for token in tokens if token != _BREAK]


def _drop_bracketed(tokens: list[str]) -> list[str]:
    """Remove ``like``/``you know``/``i mean`` between breaks, or opening before a break."""
    out: list[str] = []
    index = 0
    while index < len(tokens):
        for filler in BRACKETED_FILLERS:
            end = index + len(filler)
            if tuple(tokens[index:end]) != filler:
                continue
            before_ok = not out or out[-1] == _BREAK
            after_ok = end < len(tokens) and tokens[end] == _BREAK
            if before_ok and after_ok and _has_words(tokens[end:]):
                index = end + 1  # the filler and the break after it
                break
        else:
            out.append(tokens[index])
            index += 1
    return out


def _drop_opener(tokens: list[str]) -> list[str]:
    """Remove "so," / "well," / "okay," ... opening the utterance."""
    while (
        len(tokens) > 2 and tokens[0] in OPENERS and tokens[1] == _BREAK and _has_words(tokens[2:])
    ):
        tokens = tokens[2:]
    return tokens


def _drop_polite_ends(tokens: list[str]) -> list[str]:
    """Remove ``please`` (and a break next to it) at the start or the end."""
    while tokens and tokens[0] in POLITE and _has_words(tokens[1:]):
        tokens = tokens[1:]
        if tokens and tokens[0] == _BREAK:
            tokens = tokens[1:]
    # "say please" keeps its please: a trailing one goes only after a longer request.
    while tokens and tokens[-1] in POLITE and _word_count(tokens[:-1]) >= 2:
        tokens = tokens[:-1]
        if tokens and tokens[-1] == _BREAK:
            tokens = tokens[:-1]
    return tokens


def _tidy_breaks(tokens: list[str]) -> list[str]:
    """No break at either end, and never two in a row (removed hesitations leave them)."""
    out: list[str] = []
    for token in tokens:
        if token == _BREAK and (not out or out[-1] == _BREAK):
            continue
        out.append(token)
    if out and out[-1] == _BREAK:
        out.pop()
    return out


def _has_words(tokens: list[str]) -> bool:
    return any(token != _BREAK for token in tokens)


def _word_count(tokens: list[str]) -> int:
    return sum(token != _BREAK for token in tokens)
