"""What va keeps of what people say: the ``[privacy]`` profile section.

Whatever va writes under ``VA_HOME`` that came from a person (the questions in
the reply cache, the REPL's input history, and later stored sessions) goes
through one setting, ``privacy.store_text``:

=============  ====================================================================
``raw``        kept as said (the default); shown redacted by ``va cache list/export``
``redacted``   e-mail addresses, phone numbers and secrets are replaced by markers
               (``[email]``, ``[phone]``) before anything is written
``none``       no text of theirs is written at all
=============  ====================================================================

Cache keys are hashes whatever the setting, so a cached reply is still found by
its question. A reply is the one thing the cache must keep verbatim to be of
use: under ``redacted`` and ``none`` a reply that holds personal data is not
cached at all. Logs are always redacted (:mod:`voice_agent_cli.observe.log`); notes the
user asks va's tool server to save are their data, kept as asked.

The API every store uses::

    privacy.stored(text)          # what may be written: text, redacted text, or None
    privacy.may_keep_verbatim(t)  # may t (a reply) be written exactly as it is?
    shown(text)                   # text as va displays stored data: redacted
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from voice_agent_cli.observe.redaction import redact
from voice_agent_cli.section import Section

StoreText = Literal["raw", "redacted", "none"]


class PrivacySettings(Section):
    """What of people's words va may write to disk."""

    store_text: StoreText = Field(
        "raw",
        description="raw = as said; redacted = e-mails, phone numbers and secrets replaced "
        "before writing; none = no text of theirs is written (cache keys are hashes)",
    )

    def stored(self, text: str) -> str | None:
        """What of ``text`` may be written: as is, redacted, or nothing (``None``)."""
        if self.store_text == "raw":
            return text
        if self.store_text == "redacted":
            return redact(text)
        return None

    def may_keep_verbatim(self, text: str) -> bool:
        """May ``text`` be written exactly as it is (a reply the cache will say again)?

        Always under ``raw``; otherwise only when it holds no personal data.
        """
        return self.store_text == "raw" or redact(text) == text


def shown(text: str) -> str:
    """Stored text as va displays it (``va cache list``, exports): redacted."""
    return redact(text)
