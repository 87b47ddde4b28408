"""One module per consumer, each defining ``CHECKERS``; the registry finds them all."""
