"""The one error type users see: a message that names where (file:line), who (host) and what (key)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value came from: a file and a 1-based line (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        if self.column:
            return f"{self.file}:{self.line}:{self.column}"
        return f"{self.file}:{self.line}"


class BootstrapError(Exception):
    """An error in the user's input, reported as one line without a traceback."""

    def __init__(
        self,
        message: str,
        *,
        origin: Origin | None = None,
        host: str | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.origin = origin
        self.host = host
        self.key = key

    def with_context(
        self, *, origin: Origin | None = None, host: str | None = None, key: str | None = None
    ) -> BootstrapError:
        """Fill in what the raiser did not know; what it knew wins."""
        return type(self)(
            self.message,
            origin=self.origin or origin,
            host=self.host or host,
            key=self.key or key,
        )

    def __str__(self) -> str:
        parts = []
        if self.origin:
            parts.append(str(self.origin))
        if self.host:
            parts.append(f"host {self.host}")
        if self.key:
            parts.append(f"key {self.key}")
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


def did_you_mean(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    """A ' (did you mean X?)' suffix when a close match exists, else ''."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
