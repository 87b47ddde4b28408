"""What a checker says about a secret file, shown without the secret.

Consumers (``vtysh -C``, ``bird -p``, ``bgpd -n``, cloud-init's schema, Puppet, shellcheck...)
quote the lines they reject, and in a secret file such a line may hold the secret. The build
keeps a redacted copy of every secret file (``.redacted/<path>``, the template rendered again
with placeholders), so the secret's text at each placeholder is learnt by aligning the file with
that copy. Replacing that text in the checker's output would not do: a one-character secret, or
one equal to another word of the output, would show where it is and so what it is. So when the
output holds any of it, the output is withheld whole, and it is withheld too when the file and
its copy cannot be aligned.
"""

from __future__ import annotations

import gzip
import json
import re
import shlex
import zlib
from pathlib import Path

from bootstrap.build.manifest import REDACTED, FileRecord

PLACEHOLDER = re.compile(r"<secret:(?:env|file):[^>\n]*>")
GZIP_MAGIC = b"\x1f\x8b"


def secret_texts(real: bytes, redacted: bytes) -> list[str] | None:
    """The text each placeholder of ``redacted`` stands for in ``real``, in the forms a consumer
    may quote it (as written, unquoted, line by line); None when the two do not align."""
    try:
        real_text, copy = _text(real), _text(redacted)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error):
        return None
    spans = _align(real_text, PLACEHOLDER.split(copy))
    if spans is None:
        return None
    forms: set[str] = set()
    for span in spans:
        forms.update(_forms(span))
    return sorted(f for f in forms if f)


def _text(data: bytes) -> str:
    return (gzip.decompress(data) if data.startswith(GZIP_MAGIC) else data).decode()


def _align(text: str, segments: list[str]) -> list[str] | None:
    """Cut ``text`` at the constant ``segments`` (the copy between its placeholders)."""
    if len(segments) == 1:
        return [] if text == segments[0] else None
    first, *middle, last = segments
    if not text.startswith(first) or not text.endswith(last):
        return None
    end = len(text) - len(last)
    pos, spans = len(first), []
    for segment in middle:
        if not segment:
            return None  # two placeholders side by side: no way to tell where one ends
        found = text.find(segment, pos, end)
        if found < 0:
            return None
        spans.append(text[pos:found])
        pos = found + len(segment)
    if pos > end:
        return None
    spans.append(text[pos:end])
    return spans


def _forms(span: str) -> set[str]:
    forms = {span, span.strip("'\"")}
    try:
        words = shlex.split(span)
    except ValueError:
        words = []
    if len(words) == 1:
        forms.add(words[0])
    if span.startswith('"'):
        try:
            decoded = json.loads(span)
        except ValueError:
            decoded = None
        if isinstance(decoded, str):
            forms.add(decoded)
    for form in list(forms):
        if "\n" in form:
            forms.update(line.strip() for line in form.splitlines())
    return forms


def shown_problems(problems: list[str], record: FileRecord, folder: Path) -> list[str]:
    """``problems`` of the build file ``record`` as they may be printed."""
    if not problems or not record.secret:
        return problems
    withheld = [f"{len(problems)} line{'s' if len(problems) != 1 else ''} of the checker's "
                f"output withheld: they quote this secret file; run the checker on "
                f"{folder / record.path} yourself"]
    try:
        real = (folder / record.path).read_bytes()
        copy = (folder / REDACTED / record.path).read_bytes()
    except OSError:
        return withheld
    texts = secret_texts(real, copy)
    if texts is None:
        return withheld
    joined = "\n".join(problems)
    return withheld if any(text in joined for text in texts) else problems
