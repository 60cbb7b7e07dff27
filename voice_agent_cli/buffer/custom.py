"""Custom pre-buffered replies added at run time (``va cache add``), kept under VA_HOME.

They live in one JSON file, ``VA_HOME/buffer/custom.json``, shared by every
profile. Writers take a lock and replace the file atomically, so two ``va``
processes adding at once never lose an entry or leave half a file; readers
(a running agent) notice a change by its modification time and reload.

A damaged file never stops the agent: it is reported once and ignored.
"""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from voice_agent_cli.buffer.normalize import normalize
from voice_agent_cli.buffer.prebuffered import PrebufferedEntry
from voice_agent_cli.errors import CacheError, UsageError
from voice_agent_cli.paths import ensure_dir, exclusive_lock, va_home, write_atomically

logger = logging.getLogger("va.buffer")

FORMAT_VERSION = 1


def custom_responses_path() -> Path:
    """Where ``va cache add`` keeps its replies."""
    return va_home() / "buffer" / "custom.json"


class CustomResponses:
    """The file of custom replies: read, add, remove, and reload when it changes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or custom_responses_path()
        self._seen: tuple[int, int] | None = None
        self._warned = False

    # -- reading ---------------------------------------------------------------

    def load(self) -> list[PrebufferedEntry]:
        """The compiled entries; a missing, damaged or invalid file gives what it can."""
        try:
            raw = self._read_raw()
        except CacheError as exc:
            if not self._warned:
                logger.warning("%s; custom replies are ignored until it is fixed", exc)
                self._warned = True
            return []
        entries: list[PrebufferedEntry] = []
        for item in raw:
            try:
                entries.append(self._compile(item))
            except (ValueError, TypeError, KeyError) as exc:
                logger.warning("%s: skipping a custom reply: %s", self.path, exc)
        return entries

    def changed(self) -> bool:
        """Whether the file changed since the last call (cheap: one ``stat``)."""
        try:
            info = self.path.stat()
            seen = (info.st_mtime_ns, info.st_size)
        except OSError:
            seen = (0, 0)
        if seen == self._seen:
            return False
        self._seen = seen
        return True

    def items(self) -> list[dict[str, Any]]:
        """The stored items as plain data; raises :class:`CacheError` if unreadable."""
        return self._read_raw()

    # -- writing ---------------------------------------------------------------

    def add(self, trigger: str, reply: str, *, regex: bool = False) -> dict[str, Any]:
        """Add (or replace) the reply for ``trigger``; returns the stored item."""
        item: dict[str, Any] = {"pattern": trigger} if regex else {"phrases": [trigger]}
        item["reply"] = reply
        try:
            self._compile(item)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        with self._locked():
            items = [old for old in self._read_raw() if not _same_trigger(old, item)]
            items.append(item)
            self._write(items)
        return item

    def remove(self, trigger: str) -> int:
        """Remove the replies whose phrase or pattern is ``trigger``; returns how many."""
        with self._locked():
            items = self._read_raw()
            kept = [
                item
                for item in items
                if not (_same_trigger(item, {"pattern": trigger}) or _has_phrase(item, trigger))
            ]
            if len(kept) != len(items):
                self._write(kept)
        return len(items) - len(kept)

    def clear(self) -> int:
        """Remove every custom reply; returns how many there were."""
        with self._locked():
            try:
                count = len(self._read_raw())
            except CacheError:
                count = 0
            self._write([])
        return count

    # -- internals -------------------------------------------------------------

    def _compile(self, item: dict[str, Any]) -> PrebufferedEntry:
        return PrebufferedEntry.build(
            reply=str(item["reply"]),
            phrases=[str(phrase) for phrase in item.get("phrases", [])],
            pattern=item.get("pattern"),
            origin="custom",
        )

    def _read_raw(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CacheError(f"{self.path}: cannot read custom replies: {exc.strerror}") from None
        try:
            data = json.loads(text)
            items = data["responses"]
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise TypeError("'responses' is not a list of objects")
        except (ValueError, KeyError, TypeError) as exc:
            raise CacheError(f"{self.path}: damaged custom replies file ({exc})") from None
        return items

    def _write(self, items: list[dict[str, Any]]) -> None:
        data = {"version": FORMAT_VERSION, "responses": items}
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        try:
            ensure_dir(self.path.parent)
            write_atomically(self.path, text.encode("utf-8"))
        except OSError as exc:
            raise CacheError(f"{self.path}: cannot save custom replies: {exc.strerror}") from None

    def _locked(self) -> AbstractContextManager[None]:
        """An exclusive lock across processes, for read-modify-write."""
        return exclusive_lock(
            self.path.with_suffix(".lock"),
            error=lambda exc: CacheError(
                f"{self.path}: cannot lock custom replies: {exc.strerror}"
            ),
        )


def _same_trigger(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if "pattern" in a or "pattern" in b:
        return a.get("pattern") == b.get("pattern")
    return {normalize(p) for p in a.get("phrases", [])} == {
        normalize(p) for p in b.get("phrases", [])
    }


def _has_phrase(item: dict[str, Any], trigger: str) -> bool:
    wanted = normalize(trigger)
    return any(normalize(str(phrase)) == wanted for phrase in item.get("phrases", []))
