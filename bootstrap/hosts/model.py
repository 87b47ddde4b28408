"""Typed settings: the base model of every namespace, connection vars, and readable errors.

Each role validates its own namespace (the inventory key its ``role.yml`` names) with a model
derived from :class:`Settings`: unknown keys inside it are errors, every other variable passes
through. Pydantic's errors are turned into one
:class:`BootstrapError` that names the file:line, the host and the dotted key, with a
"did you mean" for unknown keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bootstrap.errors import BootstrapError, Origin, did_you_mean
from bootstrap.hosts.secrets import SecretRef


class Settings(BaseModel):
    """Base of every namespace model: strict about keys, frozen once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class KeyProblem(ValueError):
    """A validator's complaint about a key below the value it validates (a cross-field rule).

    ``KeyProblem("must be 1500", "vifs", 0, "mtu")`` raised by a model validator makes the error
    name ``<namespace>.vifs.0.mtu`` and that key's file:line instead of the model's own.
    """

    def __init__(self, message: str, *path: str | int) -> None:
        super().__init__(message)
        self.path = path


def matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    """A field check: the whole string matches ``pattern``, else "'x' is not a valid WHAT"."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise KeyProblem(f"{value!r} is not a valid {what}")
        return value

    return AfterValidator(check)


def _require_reference(value: Any) -> Any:
    if isinstance(value, SecretRef):
        return value
    # A KeyProblem's message is shown alone: the literal, likely a secret, is never echoed.
    raise KeyProblem("must be a secret reference such as {env: NAME} or {file: path}, not a literal")


# A field that holds a secret: only a reference is accepted, never the secret itself.
Secret = Annotated[SecretRef, BeforeValidator(_require_reference)]


class Connection(Settings):
    """Ansible's connection variables, the ones push and verify use."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ansible_host: str | None = None
    ansible_port: int = Field(default=22, ge=1, le=65535)
    ansible_user: str | None = None
    ansible_ssh_private_key_file: str | None = None
    ansible_become: bool = False
    ansible_become_user: str = "root"


def validate(
    model: type[BaseModel],
    data: Any,
    *,
    host: str,
    key: str,
    origin: Callable[[tuple[Any, ...]], Origin],
    partial: bool = False,
) -> Any:
    """Build ``model`` from ``data``; on error, name the first bad key's file:line.

    ``partial`` checks keys and types only: required keys may be missing (a namespace set for
    hosts that do not all have the role).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if partial:
            errors = [e for e in errors if e["type"] != "missing"]
            if not errors:
                return None
        raise _readable(errors[0], model, host=host, key=key, origin=origin) from None


def _readable(
    error: Any,
    model: type[BaseModel],
    *,
    host: str,
    key: str,
    origin: Callable[[tuple[Any, ...]], Origin],
) -> BootstrapError:
    loc = tuple(part for part in error["loc"] if not _is_union_tag(model, part))
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, KeyProblem):
        loc = (*loc, *problem.path)
    dotted = ".".join([key, *(str(p) for p in loc)]) if key else ".".join(str(p) for p in loc)
    if error["type"] == "extra_forbidden":
        unknown = str(loc[-1]) if loc else "?"
        known = _fields_at(model, loc[:-1])
        message = f"unknown key {unknown!r}{did_you_mean(unknown, known)}"
        if known:
            message += f"; known keys: {', '.join(sorted(known))}"
    elif error["type"] == "missing":
        message = "is required"
    elif isinstance(problem, KeyProblem):
        message = str(problem)
    elif _holds_secret(model, loc):
        # The value given where a secret belongs may be the secret itself, typed in by mistake;
        # a validator's own words may quote it too.
        said = error["msg"] if error["type"] != "value_error" else "is not a valid value"
        message = f"{said} (the value is not shown: this key holds a secret)"
    else:
        given = error.get("input")
        shown = repr(given) if not isinstance(given, dict | list) else type(given).__name__
        message = f"{error['msg']} (got {shown})"
    return BootstrapError(message, origin=origin(loc), host=host, key=dotted)


def _holds_secret(model: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """Whether a field on the way to ``loc`` may hold a secret reference."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if isinstance(part, int) or not fields or part not in fields:
            continue
        annotation = fields[part].annotation
        if _mentions_secret(annotation):
            return True
        current = _model_in(annotation)
    return False


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretRef:
        return True
    return any(_mentions_secret(arg) for arg in getattr(annotation, "__args__", None) or ())


def _is_union_tag(model: type[BaseModel], part: Any) -> bool:
    # Pydantic inserts the member type's name into locations of union fields ("str", "int", ...).
    return isinstance(part, str) and (part in {"str", "int", "bool", "float", "list", "dict"}
                                      or part.startswith(("list[", "dict[", "function-")))


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """Field names of the (nested) model found at ``loc``, for "did you mean"."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return set()
        current = _model_in(fields[part].annotation)
        if current is None:
            return set()
    fields = getattr(current, "model_fields", {})
    return {f.alias or name for name, f in fields.items()}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
