"""Every error class lives in constraints_gen/errors.py and names its exit code (issue 11
section 3). Read with :mod:`ast`, so a class defined anywhere else is found."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from test_layout import module_name, modules

from constraints_gen import errors
from constraints_gen.errors import EXIT_BUG, EXIT_FAILURE, EXIT_INPUT, ConstraintsGenError

#: Error classes still defined outside errors.py, in files other helpers own (to move there).
NOT_YET_MOVED: set[str] = set()  # every error class lives in errors.py


def error_classes(module: str, source: str) -> list[str]:
    """The classes in ``source`` that look like errors: a base or a name ending in Error."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(base) for base in node.bases]
            if node.name.endswith("Error") or any(
                base.split(".")[-1].split("[")[0] in vars(errors) for base in bases
            ):
                found.append(f"{module}.{node.name}")
    return found


def test_every_error_class_is_in_errors_py() -> None:
    outside = {
        name
        for path in modules()
        if path.name != "errors.py" or path.parent.name != "constraints_gen"
        for name in error_classes(module_name(path), path.read_text())
    }
    assert outside <= NOT_YET_MOVED, sorted(outside - NOT_YET_MOVED)


def test_a_class_outside_errors_py_is_found() -> None:
    source = (
        "from constraints_gen.errors import ConstraintsGenError\n"
        "class Refused(ConstraintsGenError):\n    exit_code = 1\n"
        "class ParseError(ValueError):\n    pass\n"
        "class Plain:\n    pass\n"
    )
    assert error_classes("constraints_gen.locks.emit", source) == [
        "constraints_gen.locks.emit.Refused",
        "constraints_gen.locks.emit.ParseError",
    ]


def test_each_error_class_names_its_exit_code() -> None:
    classes = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, ConstraintsGenError)
    ]
    assert len(classes) >= 10
    for cls in classes:
        assert "exit_code" in vars(cls), f"{cls.__name__} inherits its exit code"
        assert cls.exit_code in (EXIT_FAILURE, EXIT_INPUT), cls.__name__
    assert EXIT_BUG not in {cls.exit_code for cls in classes}


def test_the_old_homes_still_export_them() -> None:
    from constraints_gen.locks import compile, emit
    from constraints_gen.locks import file as lockfile

    assert compile.LockFailed is errors.LockFailed
    assert emit.StaleLockError is errors.StaleLockError
    assert lockfile.LockIntegrityError is errors.LockIntegrityError
    assert lockfile.LockFormatError is errors.LockFormatError
    assert Path(inspect.getfile(errors.LockFailed)).name == "errors.py"
