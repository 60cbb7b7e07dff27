"""Arithmetic said in words, turned into an expression the calculator evaluates.

"What is fifteen percent of two hundred forty?" -> ``15/100*240``;
"half of ninety" -> ``(1/2)*90``; "what's 12 times 7" -> ``12*7``.

::

    text ─► number words to digits (text2num) ─► lead-in words dropped
         ─► phrases to operators ─► every word accounted for? ─► expression

Only a question that is *all* arithmetic gives an expression: one word the
reader does not know ("what is 2 plus 2 in binary?") and it gives ``None``,
so the caller can let a model decide. The expression is checked with the
calculator's own parser before it is returned.
"""

from __future__ import annotations

import re

from text_to_num import alpha2digit

from voice_agent_cli.tools.calculator import CalculatorError, evaluate

_LEAD_IN = re.compile(
    r"^(?:(?:hey|ok|okay)(?: va)?,? )?(?:please )?(?:(?:can|could) you (?:please )?)?"
    r"(?:(?:tell me|calculate|compute|work out|figure out|solve|quick(?:ly)?) )?"
    r"(?:(?:what|how much) (?:is|are|does|do|would be|will be)|what's|whats|how much's|is it)?\s*",
)
_TAIL = re.compile(
    r"\s*(?:please|exactly|equal|equals|make|come to|give me|again|then|for me|roughly)?\s*$"
)

#: Fractions said as words, after text2num ("a third" -> "a 3rd"), and other multipliers.
_FRACTIONS = [
    (re.compile(r"\b(?:a|one|1) half (?:of )?"), "(1/2)*"),
    (re.compile(r"\bhalf (?:of )?"), "(1/2)*"),
    (re.compile(r"\b(?:a|an|one|1) quarter (?:of )?"), "(1/4)*"),
    (re.compile(r"\b(\d+) quarters (?:of )?"), r"(\1/4)*"),
    (re.compile(r"\b(?:a|an|one|1) (\d+)(?:st|nd|rd|th) (?:of )?"), r"(1/\1)*"),
    (re.compile(r"\b(\d+) (\d+)(?:st|nd|rd|th)s (?:of )?"), r"(\1/\2)*"),
    (re.compile(r"\b(?:double|twice) (?:of )?"), "2*"),
    (re.compile(r"\btriple (?:of )?"), "3*"),
]
_NUMBER = r"\d+(?:\.\d+)?"
#: Operations whose operands are a number or two, rewritten as a whole.
_WHOLE = [
    (re.compile(rf"\b(?:the )?square root of ({_NUMBER})"), r"sqrt(\1)"),
    (re.compile(rf"\b(?:the )?cube root of ({_NUMBER})"), r"(\1)**(1/3)"),
    (re.compile(rf"\b(?:the )?sum of ({_NUMBER}) and ({_NUMBER})"), r"(\1+\2)"),
    (re.compile(rf"\b(?:the )?product of ({_NUMBER}) and ({_NUMBER})"), r"(\1*\2)"),
    (re.compile(rf"\b(?:the )?difference between ({_NUMBER}) and ({_NUMBER})"), r"(\1-\2)"),
    (re.compile(rf"\b(?:the )?average of ({_NUMBER}) and ({_NUMBER})"), r"((\1+\2)/2)"),
    (re.compile(rf"({_NUMBER}) squared"), r"(\1**2)"),
    (re.compile(rf"({_NUMBER}) cubed"), r"(\1**3)"),
]
#: Words (and symbols) for operators, longest first.
_OPERATORS = [
    (r"(?:percent|per cent|%) (?:tip )?(?:of|on)", "/100*"),
    (r"to the power of|raised to(?: the power of)?|to the", "**"),
    (r"multiplied by|times|x|\*|\u00d7", "*"),
    (r"divided by|over|/|\u00f7", "/"),
    (r"plus|added to|\+|and", "+"),
    (r"minus|take away|less|-|\u2212", "-"),
    (r"modulo|mod", "%"),
    (r"\^", "**"),
]
_TOKEN = re.compile(
    rf"\s*(?:(?P<number>{_NUMBER})|(?P<open>\()|(?P<close>\))|(?P<fn>sqrt)"
    r"|(?P<op>" + "|".join(pattern for pattern, _ in _OPERATORS) + r"))(?=\s|$|[()\d*/^%+-])"
)


def to_expression(text: str) -> str | None:
    """The arithmetic ``text`` asks for, as a calculator expression; ``None`` if it is not that."""
    spoken = _digits(text)
    spoken = _LEAD_IN.sub("", spoken, count=1)
    spoken = _TAIL.sub("", spoken, count=1).strip()
    spoken = re.sub(r"^an? (?=\d+ ?(?:percent|per cent|%))", "", spoken)  # "a 15 % tip on 80"
    if not spoken or not re.search(r"\d", spoken):
        return None
    for pattern, replacement in _WHOLE:
        spoken = pattern.sub(replacement, spoken)
    for pattern, replacement in _FRACTIONS:
        spoken = pattern.sub(replacement, spoken)
    expression = _operators(spoken)
    if expression is None or not re.search(r"[-+*/%]|sqrt", expression):
        return None  # a bare number is not a calculation
    try:
        evaluate(expression)
    except CalculatorError:
        return None
    return expression


def _digits(text: str) -> str:
    """Lower case, number words as digits, thousands separators and end marks gone."""
    lowered = text.lower().strip()
    lowered = re.sub(r"[?!.]+$", "", lowered).replace("\u2019", "'")
    lowered = re.sub(r"(?<=\d),(?=\d{3}\b)", "", lowered)  # 1,234 -> 1234
    lowered = re.sub(r"[$€£]|\b(?:dollars?|euros?|pounds?|bucks|quid)\b", "", lowered)
    lowered = lowered.replace("-", " - ") if re.search(r"[a-z]-[a-z]", lowered) else lowered
    # threshold=0: every number is converted, even "two" (a calculation's operands are small).
    converted = alpha2digit(lowered, "en", threshold=0)
    return re.sub(r"\s+", " ", converted).strip(" ,")


def _operators(spoken: str) -> str | None:
    """``spoken`` with operator words as symbols, or ``None`` if a word is left unexplained."""
    spoken = re.sub(r"(\d) (?=\d)", r"\1", spoken) if re.fullmatch(r"[\d ]+", spoken) else spoken
    out: list[str] = []
    position = 0
    # Phrases already rewritten ("(1/2)*", "sqrt(12)") are kept as they are.
    protected = re.compile(r"\(\d+/\d+\)\*|\d\*|sqrt\(|\*\*\(1/3\)|\*\*\d|[()]")
    while position < len(spoken):
        if spoken[position].isspace():
            position += 1
            continue
        kept = protected.match(spoken, position)
        if kept:
            out.append(kept.group())
            position = kept.end()
            continue
        match = _TOKEN.match(spoken, position)
        if match is None:
            return None
        if match["number"] is not None:
            out.append(match["number"])
        elif match["op"] is not None:
            out.append(_symbol(match["op"]))
        else:
            out.append(match.group().strip())
        position = match.end()
    return "".join(out)


def _symbol(word: str) -> str:
    for pattern, symbol in _OPERATORS:
        if re.fullmatch(pattern, word):
            return symbol
    raise AssertionError(word)  # every operator word comes from _OPERATORS
