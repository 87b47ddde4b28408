"""Jinja's compiled templates kept in the build's private cache folder between renders.

Compiling the templates from source is most of what a small render costs; the compiled code is
kept in ``DIR/.bootstrap/cache/templates/`` (see :mod:`bootstrap.build.cache` for why that
folder can be trusted with code, and how anything odd there is a miss). The renderer takes it
as any Jinja bytecode cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import types
from typing import Any

import jinja2
from jinja2.bccache import Bucket

from bootstrap.build.cache import TEMPLATES, clean_partials, open_folder, read_entry, write_entry


class TemplateCache(jinja2.BytecodeCache):
    """Jinja's compiled templates, one private file per template, checked before use.

    An entry holds a header naming the interpreter, Jinja and the environment's options, the
    template source's checksum, a digest of the code, then the marshalled code: a change of any
    of them, a truncated or altered file, is a miss. No pickle is read (Jinja's own file cache
    unpickles its header).
    """

    def __init__(self, folder: int) -> None:
        self.folder = folder
        self._flavours: dict[int, bytes] = {}

    @classmethod
    def open(cls, cache: int | None) -> TemplateCache | None:
        """The cache in the build's private cache folder ``cache``; None without one."""
        if cache is None:
            return None
        folder = open_folder(cache, TEMPLATES, create=True)
        if folder is None:
            return None
        clean_partials(folder)
        return cls(folder)

    def _flavour(self, env: jinja2.Environment) -> bytes:
        """What the compiled code depends on besides the source: the interpreter, Jinja and the
        environment's syntax options."""
        flavour = self._flavours.get(id(env))
        if flavour is None:
            options = (env.block_start_string, env.block_end_string, env.variable_start_string,
                       env.variable_end_string, env.comment_start_string,
                       env.comment_end_string, env.line_statement_prefix,
                       env.line_comment_prefix, env.trim_blocks, env.lstrip_blocks,
                       env.newline_sequence, env.keep_trailing_newline, env.autoescape,
                       env.optimized, env.undefined.__qualname__, sorted(env.extensions))
            text = f"{sys.version}|{sys.implementation.cache_tag}|{jinja2.__version__}|{options!r}"
            flavour = self._flavours[id(env)] = hashlib.sha256(text.encode()).hexdigest().encode()
        return flavour

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.folder)

    def _header(self, bucket: Bucket, code: bytes) -> bytes:
        digest = hashlib.sha256(code).hexdigest()
        return b"%s\n%s\n%s\n" % (self._flavour(bucket.environment), bucket.checksum.encode(),
                                    digest.encode())

    def load_bytecode(self, bucket: Bucket) -> None:
        data = read_entry(self.folder, bucket.key)
        if data is None:
            return
        parts = data.split(b"\n", 3)
        if len(parts) != 4:
            return
        code = parts[3]
        if data[:len(data) - len(code)] != self._header(bucket, code):
            return
        try:
            loaded: Any = marshal.loads(code)
        except (EOFError, ValueError, TypeError):
            return
        if isinstance(loaded, types.CodeType):
            bucket.code = loaded

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is None:
            return
        code = marshal.dumps(bucket.code)
        write_entry(self.folder, bucket.key, self._header(bucket, code) + code)

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            for name in os.listdir(self.folder):
                os.unlink(name, dir_fd=self.folder)
