"""What a cache of this tool may be trusted with: one policy for every file it keeps to save work.

The caches: emit's and ``lock --check``'s answers (``locks/answers.py``), ``wheelhouse check``'s
(``install/checkanswers.py``), the sha256s of wheelhouse files (``install/wheelhouse.py``), the
on-demand locks (``locks/locate.py``), and any later one (:class:`Cache` is the API: a named
cache of JSON entries). The rules:

- A cache lives in the user cache (:func:`cache_dir`), in a folder created 0700. A folder that is
  not the user's own, or that group or others can write (a shared ``$XDG_CACHE_HOME``), is not
  used, with one notice, as ssh treats ``~/.ssh``: whoever can write it could answer for us.
- Entries are JSON (never marshal or pickle, which run or build what the file says), read from a
  regular file the user owns, validated by shape; anything else (wrong types, a list too short,
  nesting deep enough to exhaust the parser, another cache's entry) is a miss, never an error.
- An entry holds its whole key and answers only that exact question: its file name is a digest
  of the key, and the key inside is compared too.
- An entry is sealed with an HMAC under a random key kept in the cache root (``secret``, 0600):
  an entry this tool did not write for this user (edited, copied from another machine or CI
  cache, damaged) is a miss. This is no defence against a program running as the user, which
  can do anything the user can; it keeps out every other writer, and mistakes.
- A file is known by what user space cannot set back: device, inode, size, and the mtime and
  ctime in nanoseconds (git's rule). Editing a file in place and restoring its size and mtime
  still changes its ctime.
- A cache saves work, never a check: whatever an entry answers about (a lock, a wheel) is read
  again and checked against the digests the entry stands on, unless the key is such an identity
  in a cache the user owns.

Imports nothing beyond what emit already imports, but ``json`` (the entries) and, lazily, the
reporter: a hit must cost less than the work it saves.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The most an entry may be: a larger file is a miss, never read whole
MAX_ENTRY = 64 << 20

#: A file's identity: (device, inode, size, mtime_ns, ctime_ns)
Identity = tuple[int, int, int, int, int]

#: Checks that a value read from JSON has the expected shape (see :func:`record` and friends)
Shape = Callable[[object], bool]

_refused: dict[str, str] = {}  # folder -> why it is not used (said once per process)


def cache_dir() -> Path:
    """The tool's user cache: $GEN_CONSTRAINTS_CACHE_DIR, else the user cache directory of this
    system (:func:`constraints_gen.userdirs.user_cache_dir`: XDG on Linux, platformdirs on macOS
    and Windows)."""
    explicit = os.environ.get("GEN_CONSTRAINTS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    from constraints_gen.userdirs import user_cache_dir

    return user_cache_dir()


def _untrusted(info: os.stat_result) -> str | None:
    """Why a folder with this stat must not hold a cache, or None when it may."""
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    if hasattr(os, "geteuid"):  # POSIX; Windows folders are the user's by their ACL
        if info.st_uid != os.geteuid():
            return f"it is owned by uid {info.st_uid}, not by you (uid {os.geteuid()})"
        if info.st_mode & 0o022:
            return f"group or others can write it (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def trusted_dir(name: str, *, create: bool = True) -> Path | None:
    """``cache_dir()/name``, created 0700 (its parent too) when ``create``; None when it is
    missing, or when it or the cache root is not the user's own or others can write it: then it
    is not used, and the first refusal in this process says so on stderr."""
    root = cache_dir()
    folder = root / name if name else root
    for path in (root, folder) if name else (root,):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.makedirs(path, mode=0o700, exist_ok=True)
                info = os.stat(path)
            except OSError:
                return None
        except OSError:
            return None
        why = _untrusted(info)
        if why is not None:
            _refuse(path, why)
            return None
    return folder


def _refuse(path: Path, why: str) -> None:
    if str(path) in _refused:
        return
    _refused[str(path)] = why
    from constraints_gen.reporter import REPORT

    REPORT.warning(
        f"{path}: not used as a cache: {why}; whoever can write it could answer for this tool"
        f" (make it yours: chmod 700 {path}, or set GEN_CONSTRAINTS_CACHE_DIR to a private folder)"
    )


def identity(path: str | os.PathLike[str]) -> Identity | None:
    """(device, inode, size, mtime_ns, ctime_ns) of ``path``; None when it does not exist. Other
    errors (no permission) raise OSError: such a file makes an answer that cannot be cached."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


#: Margin for the kernel's coarse clock of file times (a jiffy: 1 to 10 ms)
SETTLE_NS = 50_000_000


def racy(ident: Identity | None, started_ns: int) -> bool:
    """Could the file have changed without a new identity since ``started_ns`` (``time.time_ns()``
    before it was read)? True when its ctime is that recent: a second change within the same
    clock tick would keep it (git's "racily clean" entries). Such an identity is never stored."""
    return ident is not None and ident[4] >= started_ns - SETTLE_NS


_SECRET_NAME = "secret"
_secrets: dict[Path, bytes] = {}  # cache root -> its key, read once a process


def _read_secret(path: Path) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (
            hasattr(os, "geteuid") and (info.st_uid != os.geteuid() or info.st_mode & 0o077)
        ):
            raise ValueError(f"{path}: not a private file of the user")
        data = handle.read(65)
    if len(data) != 64:
        raise ValueError(f"{path}: not a key")
    return data


def secret(create: bool) -> bytes | None:
    """The key that seals this user's entries (created at random on first use); None when there
    is none and ``create`` is false, or it may not be trusted (not a private file of the user)."""
    root = trusted_dir("", create=create)
    if root is None:
        return None
    if root in _secrets:
        return _secrets[root]
    path = root / _SECRET_NAME
    try:
        key = _read_secret(path)
    except FileNotFoundError:
        if not create:
            return None
        import secrets

        temp = path.with_name(f".{_SECRET_NAME}.{os.getpid()}.tmp")
        try:
            write_entry(temp, secrets.token_hex(32))
            try:
                os.link(temp, path)  # created whole, or not at all: another process won
            except FileExistsError:
                pass
            finally:
                temp.unlink(missing_ok=True)
            key = _read_secret(path)
        except (OSError, ValueError):
            return None
    except (OSError, ValueError):
        return None
    _secrets[root] = key
    return key


def _seal(key: bytes, text: str) -> str:
    import hmac

    return hmac.new(key, text.encode("utf-8"), "sha256").hexdigest()


def canonical(value: object) -> str:
    """The one JSON text of a key (tuples as lists, keys sorted)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Cache:
    """A named cache of JSON entries in :func:`trusted_dir`, one file per key.

    ``get(key, shape)`` is the value stored under exactly ``key`` when it has ``shape``, else
    None; ``put(key, value)`` stores it (atomically, never raising). ``version`` is the entries'
    format: an entry of another version is a miss."""

    __slots__ = ("name", "version")

    def __init__(self, name: str, version: int) -> None:
        self.name = name
        self.version = version

    def _file(self, folder: Path, text: str) -> Path:
        import hashlib

        digest = hashlib.sha256(f"{self.name}\0{text}".encode()).hexdigest()[:40]
        return folder / f"{digest}.json"

    def get(self, key: object, shape: Shape) -> Any:
        folder = trusted_dir(self.name, create=False)
        if folder is None:
            return None
        try:
            text = canonical(key)
            raw = read_text(self._file(folder, text))
            data = json.loads(raw)
            if type(data) is not dict or data.keys() != {"cache", "version", "key", "value", "mac"}:
                return None
            key_bytes = secret(create=False)
            mac = data.pop("mac")
            if key_bytes is None or type(mac) is not str:
                return None
            if not _sealed(key_bytes, raw, data, mac):
                return None  # not written by this tool for this user
            if (
                data["cache"] != self.name
                or data["version"] != self.version
                or canonical(data["key"]) != text
            ):
                return None
            value = data["value"]
            return value if shape(value) else None
        except (OSError, ValueError, TypeError, RecursionError):
            return None

    def put(self, key: object, value: object) -> None:
        folder = trusted_dir(self.name)
        key_bytes = secret(create=True)
        if folder is None or key_bytes is None:
            return
        try:
            text = canonical(key)
            entry = {"cache": self.name, "version": self.version, "key": key, "value": value}
            sealed = {**entry, "mac": _seal(key_bytes, canonical(entry))}
            write_entry(self._file(folder, text), canonical(sealed))
        except (OSError, ValueError, TypeError, RecursionError):
            return


def _sealed(key: bytes, raw: str, data: dict[str, Any], mac: str) -> bool:
    """Is ``data`` (parsed from ``raw``, its ``mac`` popped) sealed by ``mac``? The seal is over
    ``canonical(data)``; an entry as :meth:`Cache.put` writes it is exactly that text with
    ``,"mac":"<mac>"`` inserted, so the text is checked as read when the insert is found once
    (no second JSON encoding of a large entry), else ``data`` is encoded again. Both compare
    the HMAC of one exact text: nothing but this tool's key makes it match."""
    import hmac

    needle = f',"mac":"{mac}"'
    if len(mac) == 64 and raw.count(needle) == 1:
        text = raw.replace(needle, "", 1)
    else:
        text = canonical(data)
    return hmac.compare_digest(mac, _seal(key, text))


def read_text(path: Path) -> str:
    """The text of a cache entry: see :func:`read_entry`."""
    # not following a link; not waiting on a FIFO (O_NONBLOCK)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY:
            raise ValueError(f"{path}: not a cache entry")
        if hasattr(os, "geteuid") and (info.st_uid != os.geteuid() or info.st_mode & 0o022):
            raise ValueError(f"{path}: not the user's own")
        data = handle.read(MAX_ENTRY + 1)
    return data.decode("utf-8")


def read_entry(path: Path) -> object:
    """The JSON in ``path``: a regular file the user owns that group and others cannot write,
    of at most :data:`MAX_ENTRY` bytes; raises OSError or ValueError (RecursionError for a deeply
    nested one) otherwise."""
    return json.loads(read_text(path))


def write_entry(path: Path, text: str) -> None:
    """``text`` into ``path`` (mode 0600) through a temporary file renamed into place."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temp, flags | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# Shapes: each returns whether a value parsed from JSON is of that form (bool is not an int).


def is_int(value: object) -> bool:
    return type(value) is int


def is_str(value: object) -> bool:
    return type(value) is str


def is_identity(value: object) -> bool:
    """A stored :data:`Identity` (a list of 5 ints), or null for a file that did not exist."""
    return value is None or (
        type(value) is list and len(value) == 5 and all(type(n) is int for n in value)
    )


def optional(shape: Shape) -> Shape:
    return lambda value: value is None or shape(value)


def list_of(shape: Shape) -> Shape:
    return lambda value: type(value) is list and all(shape(item) for item in value)


def dict_of(shape: Shape) -> Shape:
    """An object with text keys, each value of ``shape``."""
    return lambda value: type(value) is dict and all(shape(item) for item in value.values())


def record(**fields: Shape) -> Shape:
    """An object with exactly these keys, each of its shape."""
    names = fields.keys()

    def check(value: object) -> bool:
        return (
            type(value) is dict
            and value.keys() == names
            and all(shape(value[name]) for name, shape in fields.items())
        )

    return check
