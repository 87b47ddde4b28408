"""Stage 5a, validate: every file of a build checked by the program that consumes it.

``registry`` holds :class:`~bootstrap.validate.registry.Checker`, finds the checkers and says how
to install what they need; ``checkers/`` has one module per consumer; ``programs`` finds those
programs; ``redaction`` keeps a checker's messages from showing a secret file's values.
"""
