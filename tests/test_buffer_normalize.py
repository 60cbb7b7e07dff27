"""Normalisation: what people say compares equal when only its surface differs."""

from __future__ import annotations

import pytest

from voice_agent_cli.buffer import normalize


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Hello!", "hello"),
        ("hello", "hello"),
        ("  HELLO   there  ", "hello there"),
        ("Um, what's the time?", "what is the time"),
        ("uh... what is the time", "what is the time"),
        ("It's, like, really big.", "it is really big"),
        ("Like, why?", "why"),
        ("So, what can you do?", "what can you do"),
        ("Please tell me a joke.", "tell me a joke"),
        ("Tell me a joke, please!", "tell me a joke"),
        ("You know, it works", "it works"),
        ("Don\u2019t stop", "do not stop"),
        ("Caf\u00e9 au lait?", "caf\u00e9 au lait"),
        ("The U.S.A. is big", "the usa is big"),
        ("e-mail me", "e mail me"),
    ],
)
def test_surface_differences_disappear(said: str, expected: str) -> None:
    assert normalize(said) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("I'd like, um, a coffee", "i'd like a coffee"),  # "like" is the verb here
        ("I like cats", "i like cats"),
        ("say please", "say please"),  # too short for a polite ending
        ("What's 2 + 2?", "what is 2 + 2"),  # symbols carry meaning
        ("What is 3.5 * 10,000?", "what is 3.5 * 10,000"),  # so do separators in numbers
        ("Meet at 10:30 a.m.", "meet at 10:30 am"),
        ("Do you know the way?", "do you know the way"),  # not the filler "you know,"
        ("okay", "okay"),  # a filler alone is what was said
        ("Uh-huh.", "uhhuh"),  # an answer, not a hesitation
        ("mhm", "mhm"),
    ],
)
def test_meaning_is_kept(said: str, expected: str) -> None:
    assert normalize(said) == expected


def test_different_questions_stay_different() -> None:
    assert normalize("What's 2 + 2?") != normalize("What's 2 - 2?")
    assert normalize("I like it") != normalize("I'd like it")
    assert normalize("Is it 3.5?") != normalize("Is it 35?")


def test_nothing_but_noise_is_empty() -> None:
    assert normalize("") == ""
    assert normalize(" ?! ... ") == ""
