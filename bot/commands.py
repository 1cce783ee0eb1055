"""The chat command language: text as typed in Slack (or a terminal) → a typed `Command`.

Pure: no I/O, never raises. Anything it cannot understand becomes `Unknown(problem=...)`, which the
caller answers with a short help text. It tolerates what Slack does to text: mentions
(`<@U123>`, `<@U123|fixbot>`), bold/italic/code markers around ids (`*fix_…*`, `` `fix_…` ``),
links (`<https://…|fix_…>`), trailing punctuation, curly quotes and any letter case.

Grammar (the verb may follow "please"; `approve`/`apply` mean `implement`):

    implement [fix_…] [option N]     reject [fix_…] [reason…]     show [fix_…]
    list      status      revert [fix_…]      scan [service]      merge [fix_…]
    snooze <fix_…|incident-id> <duration>      resume [fix_…|incident-id]      help
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "HELP_TEXT",
    "Command",
    "Help",
    "Implement",
    "List",
    "Merge",
    "Reject",
    "Resume",
    "Revert",
    "Scan",
    "Show",
    "Snooze",
    "Status",
    "Unknown",
    "parse_command",
    "parse_duration_text",
]


@dataclass(frozen=True)
class Implement:
    fix_id: str | None = None
    option: int | None = None


@dataclass(frozen=True)
class Reject:
    fix_id: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Show:
    fix_id: str | None = None


@dataclass(frozen=True)
class List:
    pass


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Revert:
    fix_id: str | None = None


@dataclass(frozen=True)
class Merge:
    """Merge the fix's pull request (pull-request delivery) at the head the bot validated."""

    fix_id: str | None = None


@dataclass(frozen=True)
class Scan:
    service: str | None = None


@dataclass(frozen=True)
class Snooze:
    """`target` is a fix id (`fix_…`) or an incident id (digits)."""

    target: str | None
    seconds: float


@dataclass(frozen=True)
class Resume:
    """Without a target: close the apply circuit breaker. With one: un-snooze that incident."""

    target: str | None = None


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Unknown:
    """Text that is not a command; `problem` says what was wrong, for the help reply."""

    text: str
    problem: str


Command = Implement | Reject | Show | List | Status | Revert | Merge | Scan | Snooze | Resume | Help | Unknown

HELP_TEXT = """\
Commands (mention me, DM me, or reply in a proposal's thread without the fix id):
  implement fix_YYYYMMDD_HHMMSS [option N]   apply the proposed fix (approvers only)
  reject fix_… [reason]                      discard a proposal
  show fix_…                                 the proposal with its diff
  list                                       open proposals
  status                                     health, breaker, pending posts, Slack errors
  revert fix_…                               undo a pushed fix (approvers only)
  merge fix_…                                merge the fix's pull request once checks pass (approvers only)
  scan [service]                             scan logs now
  snooze <fix_…|incident> <duration>         e.g. snooze fix_20261020_023300 2h
  resume [fix_…|incident]                    re-open applies after failures, or un-snooze
  help                                       this text"""

_FIX_ID = re.compile(r"fix_\d{8}_\d{6}(?:_\d+)?", re.IGNORECASE)
_MENTION = re.compile(r"<[@!#][^>]*>")
_PLAIN_MENTION = re.compile(r"^(?:\s*@[\w.-]+[:,]?)+")  # "@Agent implement …" typed without autocomplete
_LINK = re.compile(r"<([^<>|]*)\|([^<>]*)>|<(https?://[^<>]*|mailto:[^<>]*)>")
_DECORATION = "*_~`'\"“”‘’«»()[]{}"
_TRAILING = ".,!?;:" + _DECORATION
_VERBS = {
    "implement": "implement",
    "approve": "implement",
    "apply": "implement",
    "reject": "reject",
    "decline": "reject",
    "show": "show",
    "details": "show",
    "list": "list",
    "ls": "list",
    "status": "status",
    "revert": "revert",
    "rollback": "revert",
    "merge": "merge",
    "scan": "scan",
    "snooze": "snooze",
    "mute": "snooze",
    "resume": "resume",
    "unsnooze": "resume",
    "help": "help",
    "?": "help",
}
_SERVICE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}", re.IGNORECASE)
_INCIDENT = re.compile(r"(?:#|inc(?:ident)?[_-]?)?(\d{1,12})", re.IGNORECASE)
_DURATION_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w)(?![a-z])",
    re.IGNORECASE,
)
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _unit_seconds(unit: str) -> float:
    unit = unit.lower()
    if unit == "ms":
        return _UNIT["ms"]
    if unit.startswith("min") or unit == "m":
        return _UNIT["m"]
    return _UNIT[unit[0]]


def parse_duration_text(text: str) -> float | None:
    """Seconds for `2h`, `30m`, `1h30m`, `90 minutes`, `1 day`; None when it is not a duration."""
    compact = text.strip().lower()
    if not compact:
        return None
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(compact):
        if compact[position : match.start()].strip():
            return None
        total += float(match.group(1)) * _unit_seconds(match.group(2))
        position = match.end()
    if position == 0 or compact[position:].strip() or total <= 0:
        return None
    return total


def _normalize(text: str) -> str:
    text = _MENTION.sub(" ", text)
    text = _LINK.sub(lambda m: m.group(2) if m.group(2) is not None else m.group(3), text)
    text = text.replace("\u00a0", " ")
    text = _PLAIN_MENTION.sub(" ", text)
    return " ".join(text.split())


def _clean_token(token: str) -> str:
    return token.strip(_DECORATION).rstrip(_TRAILING).strip(_DECORATION)


def _fix_id(token: str) -> str | None:
    match = _FIX_ID.fullmatch(_clean_token(token))
    return match.group(0).lower() if match else None


def _option(tokens: list[str]) -> tuple[int | None, list[str], str | None]:
    """Pull `option N` / `option #N` / `opt N` out of `tokens`."""
    rest: list[str] = []
    option: int | None = None
    index = 0
    while index < len(tokens):
        word = _clean_token(tokens[index]).lower()
        if word in {"option", "opt", "alternative"}:
            if index + 1 >= len(tokens):
                return None, tokens, "`option` needs a number, e.g. `option 2`"
            number = _clean_token(tokens[index + 1]).lstrip("#")
            if not number.isdecimal() or not 1 <= int(number) <= 99:
                return None, tokens, f"`option` needs a number from 1, got {tokens[index + 1]!r}"
            option = int(number)
            index += 2
            continue
        rest.append(tokens[index])
        index += 1
    return option, rest, None


def parse_command(text: str) -> Command:  # noqa: PLR0911 - one flat branch per verb
    """Parse one message. Never raises: anything unusable is `Unknown` with the reason."""
    normalized = _normalize(text)
    tokens = normalized.split(" ") if normalized else []
    if tokens and _clean_token(tokens[0]).lower() in {"please", "pls"}:
        tokens = tokens[1:]
    if not tokens:
        return Help()
    verb = _VERBS.get(_clean_token(tokens[0]).lower() or tokens[0].rstrip(".!:,"))
    if verb is None:
        return Unknown(text=normalized, problem=f"I don't know the command {_clean_token(tokens[0])!r}")
    args = tokens[1:]
    if verb in {"list", "status", "help"}:
        simple: dict[str, Command] = {"list": List(), "status": Status(), "help": Help()}
        return simple[verb]
    if verb == "implement":
        option, args, problem = _option(args)
        if problem:
            return Unknown(text=normalized, problem=problem)
        return _with_fix_id(normalized, args, lambda fix_id, _rest: Implement(fix_id, option), extra=False)
    if verb == "reject":
        return _with_fix_id(normalized, args, lambda fix_id, rest: Reject(fix_id, " ".join(rest)), extra=True)
    if verb == "show":
        return _with_fix_id(normalized, args, lambda fix_id, _rest: Show(fix_id), extra=False)
    if verb == "revert":
        return _with_fix_id(normalized, args, lambda fix_id, _rest: Revert(fix_id), extra=False)
    if verb == "merge":
        return _with_fix_id(normalized, args, lambda fix_id, _rest: Merge(fix_id), extra=False)
    if verb == "scan":
        return _scan(normalized, args)
    if verb == "snooze":
        return _snooze(normalized, args)
    return _resume(normalized, args)


def _with_fix_id(
    normalized: str, args: list[str], build: Callable[[str | None, list[str]], Command], *, extra: bool
) -> Command:
    fix_id = _fix_id(args[0]) if args else None
    rest = args[1:] if fix_id else args
    if args and fix_id is None and not extra:
        return Unknown(
            text=normalized,
            problem=f"{_clean_token(args[0])!r} is not a fix id (they look like fix_20261020_023300)",
        )
    if rest and not extra:
        return Unknown(text=normalized, problem=f"unexpected words after the fix id: {' '.join(rest)!r}")
    return build(fix_id, rest)


def _scan(normalized: str, args: list[str]) -> Command:
    if not args:
        return Scan()
    service = _clean_token(args[0])
    if len(args) > 1 or not _SERVICE.fullmatch(service):
        return Unknown(text=normalized, problem="`scan` takes at most one service name, e.g. `scan api`")
    return Scan(service)


def _target(token: str) -> str | None:
    fix_id = _fix_id(token)
    if fix_id:
        return fix_id
    match = _INCIDENT.fullmatch(_clean_token(token))
    return match.group(1) if match else None


def _snooze(normalized: str, args: list[str]) -> Command:
    usage = "usage: `snooze fix_20261020_023300 2h` or `snooze 12 30m` (incident id)"
    if not args:
        return Unknown(text=normalized, problem=usage)
    target = _target(args[0])
    duration_words = args[1:] if target else args
    if duration_words and _clean_token(duration_words[0]).lower() == "for":
        duration_words = duration_words[1:]
    seconds = parse_duration_text(" ".join(_clean_token(w) for w in duration_words))
    if seconds is None:
        return Unknown(text=normalized, problem=f"I need a duration such as 2h, 30m or 1d; {usage}")
    return Snooze(target, seconds)


def _resume(normalized: str, args: list[str]) -> Command:
    if not args:
        return Resume()
    target = _target(args[0])
    if target is None or len(args) > 1:
        return Unknown(text=normalized, problem="`resume` takes nothing, a fix id or an incident id")
    return Resume(target)
