"""Jinja expressions of inventory plugin files (``compose``, ``groups``, ``keyed_groups``), evaluated
as Ansible evaluates them: a bare expression over the host's variables, giving a native value.

The inventory file is not trusted: expressions run in Jinja's immutable sandbox, lookups and
other plugins do not exist, and an undefined variable anywhere in the result is an error (the
caller skips the entry unless ``strict``). The filters are Jinja's own plus those of Ansible
that inventories commonly use.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bootstrap.inventory.vault import Vaulted


class ExpressionError(ValueError):
    """An expression that does not evaluate (syntax, undefined variable, failing filter)."""


def _to_bool(value: Any) -> bool:
    # Ansible's bool filter: these texts (any case) are true, everything else false.
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "on", "1", "true", "y", "t")
    return value in (1, 1.0)


def _regex_flags(ignorecase: bool, multiline: bool) -> int:
    return (re.I if ignorecase else 0) | (re.M if multiline else 0)


def _regex_replace(value: Any, pattern: str = "", replacement: str = "", ignorecase: bool = False,
                   multiline: bool = False, count: int = 0) -> str:
    return re.sub(pattern, replacement, str(value), count=count,
                  flags=_regex_flags(ignorecase, multiline))


def _regex_search(value: Any, pattern: str, *groups: str, ignorecase: bool = False,
                  multiline: bool = False) -> Any:
    match = re.search(pattern, str(value), flags=_regex_flags(ignorecase, multiline))
    if match is None:
        return None
    if not groups:
        return match.group(0)
    out = []
    for item in groups:  # Ansible's '\\1' and '\\g<name>' forms
        if item.startswith("\\g<"):
            out.append(match.group(item[3:-1]))
        elif item.startswith("\\"):
            out.append(match.group(int(item[1:])))
        else:
            raise ExpressionError(f"unknown regex_search argument {item!r}")
    return out


def _regex_findall(value: Any, pattern: str, ignorecase: bool = False,
                   multiline: bool = False) -> list[Any]:
    return re.findall(pattern, str(value), flags=_regex_flags(ignorecase, multiline))


def _ternary(value: Any, true_value: Any, false_value: Any, none_value: Any = None) -> Any:
    if value is None and none_value is not None:
        return none_value
    return true_value if value else false_value


def _dict2items(value: Any, key_name: str = "key", value_name: str = "value") -> list[dict]:
    if not isinstance(value, Mapping):
        raise ExpressionError(f"dict2items requires a dictionary, got {type(value).__name__}")
    return [{key_name: k, value_name: v} for k, v in value.items()]


def _items2dict(value: Any, key_name: str = "key", value_name: str = "value") -> dict:
    return {item[key_name]: item[value_name] for item in value}


def _combine(*terms: Any, recursive: bool = False) -> dict:
    out: dict[Any, Any] = {}
    for term in terms:
        for part in term if isinstance(term, list) else [term]:
            if not isinstance(part, Mapping):
                raise ExpressionError(f"combine expects dictionaries, got {type(part).__name__}")
            out = _merge(out, part) if recursive else {**out, **part}
    return out


def _merge(low: Mapping, high: Mapping) -> dict:
    out = dict(low)
    for key, value in high.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, Undefined):
        raise ExpressionError(msg or "mandatory variable not defined")
    return value


def _regex_test(mode: str) -> Callable[..., bool]:
    def test(value: Any, pattern: str = "", ignorecase: bool = False,
             multiline: bool = False) -> bool:
        flags = _regex_flags(ignorecase, multiline)
        if mode == "match":
            return re.match(pattern, str(value), flags) is not None
        return re.search(pattern, str(value), flags) is not None
    return test


FILTERS: dict[str, Callable[..., Any]] = {
    "bool": _to_bool,
    "regex_replace": _regex_replace,
    "regex_search": _regex_search,
    "regex_findall": _regex_findall,
    "ternary": _ternary,
    "dict2items": _dict2items,
    "items2dict": _items2dict,
    "combine": _combine,
    "mandatory": _mandatory,
    "to_json": lambda v, **kw: json.dumps(v, sort_keys=bool(kw.get("sort_keys"))),
    "to_nice_json": lambda v, indent=4, **_: json.dumps(v, indent=indent, sort_keys=True),
    "from_json": json.loads,
    "to_yaml": lambda v, **_: yaml.safe_dump(v, default_flow_style=None),
    "from_yaml": yaml.safe_load,
    "basename": os.path.basename,
    "dirname": os.path.dirname,
    "splitext": lambda v: list(os.path.splitext(v)),
    "flatten": lambda v, levels=None: _flatten(v, levels),
    "unique": lambda v: list(dict.fromkeys(v)),
    "type_debug": lambda v: type(v).__name__,
    "quote": lambda v: "'" + str(v).replace("'", "'\"'\"'") + "'",
}
TESTS: dict[str, Callable[..., bool]] = {
    "match": _regex_test("match"),
    "search": _regex_test("search"),
    "regex": _regex_test("search"),
    "truthy": bool,
    "falsy": lambda v: not v,
    "contains": lambda seq, item: item in seq,
    "subset": lambda a, b: set(a) <= set(b),
    "superset": lambda a, b: set(a) >= set(b),
}


def _flatten(value: Any, levels: int | None) -> list[Any]:
    out: list[Any] = []
    for item in value:
        if isinstance(item, list) and (levels is None or levels > 0):
            out.extend(_flatten(item, None if levels is None else levels - 1))
        elif item is not None:
            out.append(item)
    return out


_MAX_SIZE = 1_000_000  # items or characters one operation may make
_MAX_EXPONENT = 1_000
_WIDE_FORMAT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d{5,}|\*|\d*\.(?:\d{5,}|\*))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox, with '*', '**' and '%' bounded: ``'x' * 10**10`` or ``'%099999999d' % 1``
    would exhaust memory."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # A vault-encrypted value passes through an expression whole, as its placeholder; its
        # plaintext is never reachable from one.
        if isinstance(obj, Vaulted):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%":
            if isinstance(left, str) and _WIDE_FORMAT.search(left):
                raise ExpressionError("a %-format width or precision above 9999")
            return super().call_binop(context, operator, left, right)
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
                raise ExpressionError(f"exponent {right} is too large")
            return super().call_binop(context, operator, left, right)
        for seq, count in ((left, right), (right, left)):
            if (isinstance(seq, str | list | tuple) and isinstance(count, int)
                    and len(seq) * count > _MAX_SIZE):
                raise ExpressionError(f"repeating a value {count} times makes more than "
                                      f"{_MAX_SIZE:,} items")
        return super().call_binop(context, operator, left, right)


def _bounded(name: str, builtin: Callable[..., Any]) -> Callable[..., Any]:
    """A builtin filter whose numeric arguments or format widths could ask for gigabytes."""
    def checked(*args: Any, **kwargs: Any) -> Any:
        numbers = [a for a in (*args[1:], *kwargs.values()) if isinstance(a, int)]
        if any(abs(n) > 10_000 for n in numbers):
            raise ExpressionError(f"{name}: a width above 10000")
        if name == "format" and isinstance(args[0], str) and _WIDE_FORMAT.search(args[0]):
            raise ExpressionError("format: a width or precision above 9999")
        return builtin(*args, **kwargs)
    return checked


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined)
    for name in ("center", "format", "indent", "wordwrap", "truncate", "batch", "slice"):
        env.filters[name] = _bounded(name, env.filters[name])
    env.filters.update(FILTERS)
    env.tests.update(TESTS)
    return env


@lru_cache(maxsize=512)
def _compiled(expression: str) -> Any:
    try:
        return _environment().compile_expression(expression, undefined_to_none=False)
    except TemplateError as exc:
        raise ExpressionError(f"cannot parse {expression!r}: {exc}") from None


def evaluate(expression: Any, variables: Mapping[str, Any]) -> Any:
    """The value of ``expression`` over ``variables``; a value that is not text is itself."""
    if not isinstance(expression, str):
        return expression
    try:
        result = _compiled(expression)(**variables)
        if isinstance(result, Iterator):  # map(), select(): Ansible gives their items as a list
            result = list(result)
        _check_defined(result)
    except ExpressionError:
        raise
    except TemplateError as exc:
        raise ExpressionError(f"{expression!r}: {exc}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError,
            RecursionError) as exc:
        raise ExpressionError(f"{expression!r}: {exc}") from None
    return result


def conditional(expression: Any, variables: Mapping[str, Any]) -> bool:
    """A condition of ``groups``: as in Ansible, it must give a boolean."""
    result = evaluate(expression, variables)
    if not isinstance(result, bool):
        raise ExpressionError(f"{expression!r} gave {type(result).__name__} {result!r}; a "
                              "condition must give true or false")
    return result


def template(text: Any, variables: Mapping[str, Any]) -> Any:
    """A string that may hold ``{{ }}`` parts (a keyed group's ``parent_group``)."""
    if not isinstance(text, str) or ("{{" not in text and "{%" not in text):
        return text
    try:
        return _environment().from_string(text).render(**variables)
    except TemplateError as exc:
        raise ExpressionError(f"{text!r}: {exc}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise ExpressionError(f"{text!r}: {exc}") from None


def _check_defined(value: Any, depth: int = 0) -> None:
    """An undefined value anywhere in a result fails it, as Ansible's finalizing does."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if depth > 50:
        return
    if isinstance(value, Mapping):
        for item in value.values():
            _check_defined(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_defined(item, depth + 1)
