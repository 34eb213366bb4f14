"""The registry itself: what an event and a reason are, and the two tables that
``reasons_docs`` writes the Audit events page from. Each module of this package adds
its names to the tables as it is imported (``reasons/__init__`` imports them all)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """An audit ``event``: the results it has, and when it is written."""

    name: str
    results: tuple[str, ...]
    meaning: str


EVENTS: dict[str, Event] = {}


def _event(name: str, results: str, meaning: str) -> str:
    EVENTS[name] = Event(name, tuple(results.split()), meaning)
    return name


@dataclass(frozen=True)
class Reason:
    """An audit ``reason``: where it appears (``event/result`` pairs) and what it means.

    ``meaning`` is its one line; ``elsewhere`` says what it means under another
    ``event/result`` where that differs."""

    value: str
    uses: tuple[str, ...]
    meaning: str
    elsewhere: tuple[tuple[str, str], ...] = ()

    def meaning_in(self, use: str) -> str:
        return dict(self.elsewhere).get(use, self.meaning)


REASONS: dict[str, Reason] = {}


def _reason(value: str, uses: str, meaning: str, elsewhere: dict[str, str] | None = None) -> str:
    REASONS[value] = Reason(value, tuple(uses.split()), meaning, tuple((elsewhere or {}).items()))
    return value


#: What a refusal found by revalidation does, in the reasons' meanings.
_EVICTED = "tokens answer 401, cached passwords are evicted"


def _also(value: str, uses: str, meaning: str | None = None) -> str:
    """A reason registered by another family, written by more events too.

    ``meaning`` is what it means under those uses, if that differs from its one line."""
    known = REASONS[value]
    added = tuple(uses.split())
    elsewhere = dict(known.elsewhere)
    if meaning is not None:
        elsewhere.update({use: meaning for use in added})
    REASONS[value] = Reason(value, known.uses + added, known.meaning, tuple(elsewhere.items()))
    return value
