"""Stage 5a, validate: every file of a build checked by the program that consumes it.

``checker`` defines :class:`~bootstrap.validate.checker.Checker` and says how to install what
checkers need (the roles' checkers build on it); ``registry`` finds every checker, the generic
ones of ``checkers/`` (one module per consumer) and those the roles declare; ``programs`` finds
the consumers' programs; ``redaction`` keeps a checker's messages from showing a secret file's
values.
"""
