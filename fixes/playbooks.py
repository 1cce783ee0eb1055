"""Deterministic playbooks: well-known incidents whose fix is a configuration value.

A playbook reads the incident (template, samples, traceback) and the repository, and proposes an
edit without any language model. Each is labelled as a playbook wherever it is shown. They run
when no model is configured, the budget is spent, or the model is down.

Playbooks here:

- `raise-limit`: "... truncated ... max_tokens=N" (or a timeout after N seconds with `timeout=N`)
  → find the single assignment of that key to N in the repository and double it. Several
  candidate assignments → no playbook fix (never guessed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixes.context import ReadPolicy, read_repo_file
from fixes.edits import Edit

__all__ = ["PLAYBOOKS", "PlaybookFix", "find_playbook_fix"]

_SCANNED_SUFFIXES = (".py", ".toml", ".yaml", ".yml", ".json", ".cfg", ".ini")
_MAX_FILES = 5_000


@dataclass(frozen=True)
class PlaybookFix:
    """A deterministic fix: what it is, why, and the edits."""

    playbook: str
    summary: str
    root_cause: str
    reasoning: str
    risk: str
    test_suggestion: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class _LimitRule:
    name: str
    key: str
    trigger: re.Pattern[str]  # group "value": the current limit, read from the log text
    why: str


PLAYBOOKS: tuple[_LimitRule, ...] = (
    _LimitRule(
        "raise-max-tokens",
        "max_tokens",
        re.compile(
            r"truncat.*?max_tokens\s*[=:]\s*(?P<value>\d+)|max_tokens\s*[=:]\s*(?P<v2>\d+).*?truncat", re.I
        ),
        "responses are cut off at the configured max_tokens",
    ),
    _LimitRule(
        "raise-timeout",
        "timeout",
        re.compile(r"time[d ]?\s*out.*?timeout\s*[=:]\s*(?P<value>\d+)", re.I),
        "operations take longer than the configured timeout",
    ),
)


def _incident_text(details: Mapping[str, Any], samples: Sequence[str]) -> str:
    return "\n".join(
        [str(details.get("template", "")), str(details.get("traceback", "")), *map(str, samples)]
    )


def _candidate_files(root: Path, policy: ReadPolicy) -> list[str]:
    real_root = root.resolve()
    out: list[str] = []
    for path in sorted(real_root.rglob("*")):
        if len(out) >= _MAX_FILES:
            break
        rel = path.relative_to(real_root).as_posix()
        hidden = any(p.startswith(".") for p in rel.split("/"))
        if path.suffix in _SCANNED_SUFFIXES and not hidden and policy.permits(rel):
            out.append(rel)
    return out


def find_playbook_fix(
    root: Path, *, details: Mapping[str, Any], samples: Sequence[str], policy: ReadPolicy
) -> PlaybookFix | None:
    """The first playbook that matches the incident and finds exactly one place to change."""
    text = _incident_text(details, samples)
    for rule in PLAYBOOKS:
        found = rule.trigger.search(text)
        if not found:
            continue
        value = found.group("value") or (found.groupdict().get("v2") or "")
        if not value:
            continue
        # `key = N`, `key=N` (keyword argument), `key: int = N` (annotated default), `key: N` (YAML)
        # and `"key": N` (JSON).
        assignment = re.compile(
            rf"((?<![\w.]){re.escape(rule.key)}[\"']?\s*(?::\s*[\w.\[\], |]+?\s*)?[=:]\s*){value}(?![\d.])"
        )
        hits: list[tuple[str, str]] = []
        for rel in _candidate_files(root, policy):
            source = read_repo_file(root, rel, policy)
            if source is None:
                continue
            for line in source.split("\n"):
                if assignment.search(line):
                    hits.append((rel, line))
        if len(hits) != 1:
            continue
        rel, line = hits[0]
        new_value = str(int(value) * 2)
        new_line = assignment.sub(rf"\g<1>{new_value}", line, count=1)
        return PlaybookFix(
            playbook=rule.name,
            summary=f"Playbook {rule.name}: raise {rule.key} from {value} to {new_value} in {rel}",
            root_cause=f"The log shows {rule.why} ({rule.key}={value}); {rel} sets it.",
            reasoning=f"Deterministic playbook {rule.name}: the only assignment {rule.key} = {value} "
            f"in the repository is in {rel}; doubling it removes the limit that the log hits.",
            risk=f"Higher {rule.key} means more cost or longer waits per call; no code path changes.",
            test_suggestion=f"Assert the configured {rule.key} is at least {new_value}.",
            edits=(Edit(rel, line, new_line),),
        )
    return None
