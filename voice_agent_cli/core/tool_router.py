"""Tool detection: rules first, the model only when the rules are unsure.

A small model asked "which tool?" for every turn picks the calculator for the
weather and a note for a translation, and the question costs it most of a
second. Most turns need no asking: arithmetic, the time in a city and notes
are recognisable by their words, and a question that has none of those signs
needs no tool at all. So, for each user turn::

    text ─► arithmetic? ─────────► calculate(expression)    "rule: arithmetic"
         ─► time/date (in X)? ───► now(timezone)            "rule: time in a place"
         ─► save/read/find notes? ► add_note / list_notes / search_notes / delete_note
         ─► weather, news, prices? ► no tool, with a hint:  "rule: live data va cannot know"
         ─► harmful request? ─────► no tool, told to refuse "rule: harmful request"
         ─► chit-chat, translation? ► no tool                "rule: chit-chat" ...
         ─► no tool sign at all ─► no tool                  "rule: no tool needed"
         ─► anything else ───────► None: the model decides ("model")

The rules know va's own tools (by their short names and argument names). A
tool a rule does not know (a third-party MCP server) turns the "no tool
needed" rule off, since only a model can judge whether that tool fits; the
rules for va's own tools still apply.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from text_to_num import alpha2digit

from voice_agent_cli.contracts.messages import ToolCall, ToolSpec
from voice_agent_cli.tools.places import time_zone_of
from voice_agent_cli.tools.spoken_arithmetic import to_expression

#: Tools the rules know: short name -> the argument the rules fill in (or None).
KNOWN_TOOLS: dict[str, str | None] = {
    "calculate": "expression",
    "now": "timezone",
    "add_note": "text",
    "list_notes": None,
    "search_notes": "query",
    "delete_note": "note_id",
}

REFUSE_HARM = (
    "The user asks for help that could hurt people (weapons, explosives, poison, violence). "
    'Your answer must start with "I can\'t help with that" and give no steps.'
    # ("refuse in one short sentence" once got the one-word reply "Refuse.")
)
NO_LIVE_DATA = (
    "This question needs live or future information, which you cannot know: you have no "
    'internet access. Your answer must start with "I can\'t know" and say where to check. '
    "Never make up news, weather, prices, scores or numbers."
)


@dataclass(frozen=True)
class ToolDecision:
    """Call ``call`` (or answer directly when ``None``), and why.

    ``hint`` is added to the system prompt of this turn (what the model should
    keep in mind when it answers without a tool).
    """

    call: ToolCall | None
    why: str
    hint: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The decision as ``--json`` shows it in ``tool_decisions``."""
        return {
            "tool": self.call.name if self.call else None,
            "arguments": dict(self.call.arguments) if self.call else {},
            "why": self.why,
        }


def model_decision(calls: Sequence[ToolCall]) -> ToolDecision:
    """What the model decided when the rules left it the choice."""
    return ToolDecision(calls[0] if calls else None, "model")


class ToolRouter:
    """Decides by rule whether a turn needs one of va's own tools (see the module doc)."""

    def decide(self, text: str, tools: Sequence[ToolSpec]) -> ToolDecision | None:
        """A decision for ``text`` given the offered ``tools``; ``None`` when unsure."""
        by_short = _known(tools)
        plain = _plain(text)
        for rule in (self._arithmetic, self._clock, self._notes):
            decision = rule(text, plain, by_short)
            if decision is not None:
                return decision
        if _HARMFUL.search(plain):
            return ToolDecision(None, "rule: harmful request", hint=REFUSE_HARM)
        if _CHIT_CHAT.match(plain):
            return ToolDecision(None, "rule: chit-chat")
        if _LIVE_DATA.search(plain):
            return ToolDecision(None, "rule: live data va cannot know", hint=NO_LIVE_DATA)
        if _TRANSLATION.search(plain):
            return ToolDecision(None, "rule: translation")
        if len(by_short) < len(tools):
            return None  # a tool the rules do not know might fit: the model judges
        if _MAYBE_A_TOOL.search(plain) or _mentions_arithmetic(plain):
            return None
        return ToolDecision(None, "rule: no tool needed")

    # -- the rules: each returns a decision, or None to pass -------------------

    def _arithmetic(self, text: str, plain: str, tools: dict[str, ToolSpec]) -> ToolDecision | None:
        if "calculate" not in tools:
            return None
        expression = to_expression(text)
        if expression is None:
            return None
        return _call(tools["calculate"], "rule: arithmetic", expression=expression)

    def _clock(self, text: str, plain: str, tools: dict[str, ToolSpec]) -> ToolDecision | None:
        if "now" not in tools:
            return None
        match = _TIME_QUESTION.match(plain)
        if match is None:
            return None
        place = match["place"]
        if not place:
            return _call(tools["now"], "rule: the date or time")
        place = _TRAILING_NOW.sub("", place).strip()
        zone = time_zone_of(place)
        if zone is None:
            return None  # a place the table does not know: the model may know its zone
        return _call(tools["now"], "rule: time in a place", timezone=zone)

    def _notes(self, text: str, plain: str, tools: dict[str, ToolSpec]) -> ToolDecision | None:
        delete = _DELETE_NOTE.match(_numbers_as_digits(plain))
        if delete and "delete_note" in tools:
            return _call(tools["delete_note"], "rule: delete a note", note_id=int(delete["id"]))
        search = _SEARCH_NOTES.match(plain)
        if search and "search_notes" in tools:
            return _call(tools["search_notes"], "rule: search the notes", query=search["query"])
        if _LIST_NOTES.match(plain) and "list_notes" in tools:
            return _call(tools["list_notes"], "rule: read the notes")
        save = _SAVE_NOTE.match(text.strip())
        if save and "add_note" in tools and not text.strip().endswith("?"):
            note = save["note"].strip().rstrip(".!")
            return _call(tools["add_note"], "rule: save a note", text=note[:1].upper() + note[1:])
        return None


def _known(tools: Sequence[ToolSpec]) -> dict[str, ToolSpec]:
    """The offered tools the rules know, by short name, checked by their argument."""
    known: dict[str, ToolSpec] = {}
    for tool in tools:
        short = tool.name.rsplit("__", 1)[-1]
        if short not in KNOWN_TOOLS or short in known:
            continue
        argument = KNOWN_TOOLS[short]
        properties = tool.parameters.get("properties") or {}
        if argument is None or argument in properties:
            known[short] = tool
    return known


def _call(tool: ToolSpec, why: str, **arguments: Any) -> ToolDecision:
    call = ToolCall(id=f"call_{uuid.uuid4().hex[:12]}", name=tool.name, arguments=arguments)
    return ToolDecision(call, why)


def _plain(text: str) -> str:
    """Lower case, apostrophes straightened, end marks and extra spaces gone."""
    plain = text.lower().replace("\u2019", "'").strip()  # typographic apostrophe
    plain = re.sub(r"^(?:(?:hey|ok|okay|hi)(?: va)?[,!]? |please |va,? )+", "", plain)
    plain = re.sub(r"[?!.]+$", "", plain)
    return re.sub(r"\s+", " ", plain).strip(" ,")


_NOW = r"(?:right now|just now|now|currently|at the moment|today|please)"
_TRAILING_NOW = re.compile(rf"(?:\s*,?\s*{_NOW})+$")
_TIME_QUESTION = re.compile(
    r"^(?:(?:what|what's|whats|what is)(?: is)? |(?:can|could) you tell me |tell me |"
    r"do you know |give me )?"
    r"(?:the |today's |todays )?(?:current |local |exact )?"
    r"(?:time|date|day(?: of the week)?|year|month)"
    r"(?: is it| it is| is today| today is| is| now| today)?"
    rf"(?: {_NOW})*"
    r"(?: (?:in|for) (?P<place>[a-z][a-z .'-]*))?$"
)
_SAVE_NOTE = re.compile(
    r"^(?:please |can you |could you )*(?:note to self|"
    r"(?:remember|make a note|take a note|add a note|save a note|note down|note|write down|"
    r"jot down|keep in mind)(?: (?:that|to|of|about))?"
    r"|remind me (?:to|that|about))[:,]?\s+(?P<note>.+)$",
    re.IGNORECASE,
)
_LIST_NOTES = re.compile(
    r"^(?:(?:can you |could you )?(?:show|list|read|tell)(?: me)?(?: all)? my notes"
    r"|what(?: are|'re| is in|'s in) my notes"
    r"|what notes do i have|do i have any notes"
    r"|what (?:did|have) i (?:ask|asked|told|tell) you to (?:remember|note(?: down)?))$"
)
_SEARCH_NOTES = re.compile(
    r"^(?:(?:search|check|look through|look in) (?:my |the )?notes for "
    r"|find (?:my |the )?notes? (?:about|on|with|mentioning) "
    r"|what did i (?:note|save|write down) about "
    r"|do i have (?:a |any )?notes? (?:about|on|mentioning) )(?P<query>.+)$"
)
_DELETE_NOTE = re.compile(r"^(?:delete|remove|erase|forget) note (?:number |no |#)?(?P<id>\d+)$")
_WHEN = (
    r"(?:today|tonight|tomorrow|now|right now|this (?:week|weekend|afternoon|evening)|later"
    r"|outside)"
)
_LIVE_DATA = re.compile(
    r"\b(?:weather|forecast|temperature outside|"
    rf"(?:rain|raining|snow|snowing|sunny|cloudy|windy|hot|cold) (?:\w+ )?{_WHEN}|"
    r"will it (?:rain|snow|be sunny|be windy)|is it (?:raining|snowing)|"
    r"latest news|news today|today's news|the news|headlines?|stock price|share price|"
    r"price of (?:bitcoin|gold|oil|a share)|bitcoin|crypto|exchange rate|lottery|"
    r"winning numbers|score of (?:the|last|yesterday)|who won (?:last night|yesterday)|"
    r"traffic (?:now|today|like))\b"
)
#: Requests for help that could hurt people: the model is told to refuse (defence in
#: depth: the system prompt says so too, but a small model forgets it).
_HARMFUL = re.compile(
    r"\b(?:bombs?|explosives?|detonators?|nerve agents?|chemical weapons?|bioweapons?|"
    r"(?:make|build|buy|3d print) (?:a |an )?(?:gun|weapon|firearm)s?|"
    r"poison (?:someone|somebody|a person|my \w+)|"
    r"(?:kill|hurt|stab|shoot) (?:someone|somebody|people|a person|my \w+)|"
    r"methamphetamine|cook meth)\b"
)
_CHIT_CHAT = re.compile(
    r"^(?:hi|hello|hey|good (?:morning|afternoon|evening|night)|how are you|how's it going|"
    r"how are things|what's up|thanks|thank you|bye|goodbye|nice to meet you|"
    r"i'm (?:feeling|so|a bit|really)|i am (?:feeling|so|a bit|really))\b"
)
_TRANSLATION = re.compile(
    r"\btranslat|\bhow (?:do|would) you say\b|\bin (?:spanish|french|german|italian|"
    r"portuguese|japanese|chinese|mandarin|korean|russian|arabic|dutch|hindi|greek|latin)\b"
    r"|\bthe (?:spanish|french|german|italian|portuguese|japanese|dutch) (?:word|for)\b"
)
#: Signs that one of va's tools might fit after all: the model should judge.
_MAYBE_A_TOOL = re.compile(
    r"\b(?:time|clock|date|today|tonight|tomorrow|yesterday|o'clock|"
    r"(?:this|next|last) (?:week|month|year)|what (?:day|year|month) is|"
    r"(?:days|weeks|hours|minutes) (?:until|till|since|ago|from now)|"
    r"note|notes|remember|remind|forget|my|calculate|compute|percent|sum|total|average)\b|%"
)
_ARITHMETIC_WORDS = re.compile(
    r"\b(?:plus|minus|times|divided|multiplied|squared|cubed|root|power|half|third|"
    r"quarter|twice|double)\b|[-+*/^\u00d7\u00f7]"  # x and divide signs
)


def _numbers_as_digits(plain: str) -> str:
    return str(alpha2digit(plain, "en", threshold=0))


def _mentions_arithmetic(plain: str) -> bool:
    """Numbers and arithmetic words together, though not a whole calculation."""
    has_number = re.search(r"\d", plain) or re.search(
        r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
        r"forty|fifty|hundred|thousand|million)\b",
        plain,
    )
    return bool(has_number and _ARITHMETIC_WORDS.search(plain))
