"""This project's own test environment, locked the way constraints_gen locks a profile.

``testenv/lock.txt`` pins every package the tests need (the runtime ``dependencies``, the ``test``
extra and the build requirements of ``pyproject.toml``), each with its sha256 hashes, for every
CPython that ``requires-python`` allows. CI and the README's test command install from it with
``pip install --require-hashes``, so a fresh machine gets exactly what the last green run had, not
whatever was released since (issue 15: pip-tools 7.7 turned the suite red overnight).

    python -m testenv check             # offline: 0 fresh, 1 stale, 2 tampered or bad input
    python -m testenv lock              # re-resolve only when pyproject.toml's deps changed
    python -m testenv lock --upgrade    # everything to its newest release: a reviewable diff
    python -m testenv newest            # opt-in: the suite on every dependency's newest release
    python -m testenv lowest            # the suite on each direct dependency's floor

This package is development tooling: it is not in the wheel (``[tool.hatch.build]``).
"""
