"""Which Web API methods exist and which arguments they take, as slack_sdk's `WebClient` defines them.

The fake Slack checks every call against this table, so a misspelt method or an argument that
slack_sdk does not know fails a test as it would fail against slack.com (`unknown_method`,
`invalid_arguments`), instead of getting `ok: true`. The table is read from the installed
slack_sdk: each `WebClient` method names its Web API method in `self.api_call("chat.update", …)`,
and its signature lists the arguments (required ones have no default). Nearly every method also
takes `**kwargs` to pass arguments slack_sdk does not name yet; the fake still refuses those, so
an argument we send is one slack_sdk documents.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from functools import cache

from slack_sdk import WebClient

__all__ = ["MethodSpec", "check_call", "web_api_methods"]

_API_CALL = re.compile(r"""api_call\(\s*["']([\w.]+)["']""")
# Credentials travel in the Authorization header, not as arguments.
_TRANSPORT = frozenset({"token", "app_token"})


@dataclass(frozen=True)
class MethodSpec:
    required: frozenset[str]
    known: frozenset[str]
    open_ended: bool


@cache
def web_api_methods() -> dict[str, MethodSpec]:
    """Web API method name → its arguments, from slack_sdk's WebClient."""
    table: dict[str, MethodSpec] = {}
    for _, function in inspect.getmembers(WebClient, inspect.isfunction):
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            continue
        names = set(_API_CALL.findall(source))
        if len(names) != 1:
            continue  # helpers and composite methods (files_upload_v2) call several methods
        parameters = list(inspect.signature(function).parameters.values())[1:]
        named = [p for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]
        table[names.pop()] = MethodSpec(
            required=frozenset(p.name for p in named if p.default is inspect.Parameter.empty),
            known=frozenset(p.name for p in named),
            open_ended=len(named) != len(parameters),
        )
    return table


def check_call(method: str, params: dict[str, object]) -> str:
    """The Web API error code this call would get for its shape, or "" when it is well-formed."""
    spec = web_api_methods().get(method)
    if spec is None:
        return "unknown_method"
    given = set(params) - _TRANSPORT
    if spec.required - _TRANSPORT - given:
        return "invalid_arguments"
    if given - spec.known - spec.required:
        return "invalid_arguments"
    return ""
