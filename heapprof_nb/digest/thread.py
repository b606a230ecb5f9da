"""The digest thread: reads a heapprof_nb log in the background and keeps its time history.

A :class:`Digest` owns one C digester (``heapprof_nb._digest``, see
``native/digest/hp_digest.h``) and one daemon thread that feeds it the log. The C inner loop runs
with the GIL released, so the notebook stays responsive while a large log is digested; the
caller polls :attr:`Digest.progress` and :attr:`Digest.done`, blocks in :meth:`Digest.wait`, or
stops it with :meth:`Digest.cancel`. With ``follow=True`` the thread keeps reading a log that is
still being written (polling its size) until the TRAILER arrives, :meth:`Digest.finish` is
called, or it is cancelled; queries in between see everything digested so far.

What the digest keeps, and what it costs:

- the time history (estimated live bytes, objects, sampling variance, RSS, per-bucket maximum)
  in between ``max_buckets/2`` and ``max_buckets`` buckets (4096 by default; the width is a
  power of two nanoseconds chosen as the run grows), or buckets of a width you give;
- per-site series, folded: a site below ``precision`` (0.5 %) of the live total at the end of a
  bucket counts in "other" for that bucket (totals are never folded);
- for snapshot and window queries, an interval index of 24 bytes per sampled allocation, capped
  at ``index_limit`` bytes (512 MiB). This is the one part proportional to the log. Past the
  cap the index is dropped and queries re-read the log from the start with the C decoder: the
  same answers, at digest speed instead of index speed.

A finished digest is saved next to the log as ``<log>.digest`` and reused while the log's size,
modification time and header bytes are unchanged and the options match. The cache format is a
small envelope (magic, version, JSON key, BLAKE2b checksum) around the C digest's own binary
dump, which is validated field by field when loaded; nothing is unpickled. A cache that does not
validate is ignored (and replaced when the new digest is saved).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import threading
import time
from types import TracebackType
from typing import Any

from .. import _digest
from .._format import HEADER_FIXED, MAX_HEADER_BODY
from ..errors import ProfileFormatError

__all__ = ["Digest", "cache_path", "CACHE_SUFFIX"]

CACHE_SUFFIX = ".digest"
_CACHE_MAGIC = b"HPNBDGC\n"
_CACHE_VERSION = 1
_MAX_HEADER = HEADER_FIXED + MAX_HEADER_BODY
_MAX_CACHE_KEY = 1 << 16


def cache_path(log_path: str | os.PathLike[str]) -> str:
    """Where the digest of ``log_path`` is saved: ``<log_path>.digest``."""
    return os.fspath(log_path) + CACHE_SUFFIX


def _header_digest(f: Any, size: int) -> str:
    """SHA-256 of the log's header bytes (all of them if the header is cut short)."""
    head = os.pread(f.fileno(), HEADER_FIXED, 0)
    n = len(head)
    if n == HEADER_FIXED:
        (hlen,) = struct.unpack_from("<I", head, 12)
        n = min(HEADER_FIXED + hlen, _MAX_HEADER, size)
    data = os.pread(f.fileno(), n, 0) if n > len(head) else head
    return hashlib.sha256(data).hexdigest()


class Digest:
    """The digest of one log, built by a background thread.

    ``path`` is opened at once (``FileNotFoundError``/``IsADirectoryError`` name it). Options:

    - ``follow``: keep reading as the log grows, until its TRAILER, :meth:`finish` or
      :meth:`cancel`. Without it the thread reads what the file holds now and stops.
    - ``bucket``: fixed bucket width in seconds; ``None`` chooses it (see the module doc).
    - ``max_buckets``: bucket count that makes automatic buckets double (even, >= 2).
    - ``precision``: per-site series fold sites under this fraction of the live total.
    - ``index_limit``: bytes the interval index may use; 0 never builds it.
    - ``strict``: a FREE of an address that is not live, or an ALLOC of one that is, is a
      format error instead of being counted.
    - ``cache``: reuse and write ``<log>.digest``.
    - ``poll_interval``: seconds between looks at a growing log.
    - ``idle_timeout``: stop following a log that has not grown for this many seconds (the
      engine appends an RSS record every 10 ms while it runs, so a silent log has lost its
      writer); ``None`` follows until the TRAILER, :meth:`finish` or :meth:`cancel`.
    - ``start``: start the thread now (else call :meth:`start`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        follow: bool = False,
        bucket: float | None = None,
        max_buckets: int = _digest.AUTO_BUCKETS,
        precision: float = _digest.DEFAULT_PRECISION,
        index_limit: int = _digest.DEFAULT_INDEX_LIMIT,
        strict: bool = False,
        cache: bool = True,
        poll_interval: float = 0.2,
        idle_timeout: float | None = 60.0,
        start: bool = True,
    ) -> None:
        self.path = os.fspath(path)
        if bucket is not None:
            if not isinstance(bucket, (int, float)) or not math.isfinite(bucket) or bucket <= 0:
                raise ValueError(f"bucket must be a positive number of seconds, not {bucket!r}")
            bucket_ns = max(1, round(bucket * 1e9))
        else:
            bucket_ns = 0
        if (
            not isinstance(max_buckets, int)
            or max_buckets < 2
            or max_buckets % 2
            or max_buckets > _digest.MAX_BUCKETS
        ):
            raise ValueError(
                f"max_buckets must be an even integer in 2..{_digest.MAX_BUCKETS}, "
                f"not {max_buckets!r}"
            )
        if not 0.0 <= precision <= 1.0:
            raise ValueError(f"precision must be in [0, 1], not {precision!r}")
        if index_limit < 0:
            raise ValueError(f"index_limit must be >= 0, not {index_limit!r}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval!r}")
        self._options: dict[str, Any] = {
            "bucket_ns": bucket_ns,
            "max_buckets": max_buckets,
            "precision": float(precision),
            "strict": bool(strict),
        }
        self._index_limit = int(index_limit)
        self.follow = follow
        self.use_cache = cache
        self.poll_interval = poll_interval
        self.idle_timeout = idle_timeout
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed by the thread / close()
        self._core = _digest.Digester(index_limit=self._index_limit, **self._options)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._finish = threading.Event()
        self._header_ready = threading.Event()
        self._done = threading.Event()
        self._cancelled = False
        self._error: BaseException | None = None
        self._from_cache = False
        self._saved_cache = False
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # -- control -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread (once)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"heapprof_nb-digest:{os.path.basename(self.path)}",
                daemon=True,
            )
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the digest is done (or ``timeout`` seconds); return :attr:`done`.

        Raises the error that stopped the digest (``ProfileFormatError`` for a corrupt log,
        ``OSError``), if any.
        """
        if self._thread is None:
            self.start()
        finished = self._done.wait(timeout)
        if finished and self._error is not None:
            raise self._error
        return finished

    def wait_header(self, timeout: float | None = None) -> bool:
        """Block until the log's header has been read (or the digest ended); raise its error."""
        if self._thread is None:
            self.start()
        ready = self._header_ready.wait(timeout)
        if self._error is not None:
            raise self._error
        return ready

    def finish(self) -> None:
        """Stop following: read what the log holds now, then end."""
        self._finish.set()
        self._stop.set()

    def cancel(self, timeout: float | None = 5.0) -> None:
        """Stop as soon as possible (after the chunk being decoded) and join the thread.

        The digest keeps what it read, is :attr:`done` and :attr:`cancelled`, and is not saved.
        """
        self._cancelled = True
        self._core.cancel()
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        else:
            self._done.set()

    def close(self) -> None:
        """Cancel if still running and release the file."""
        if not self._done.is_set():
            self.cancel()
        self._close_file()

    def __enter__(self) -> Digest:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- state ---------------------------------------------------------------------------------

    @property
    def core(self) -> _digest.Digester:
        """The C digester (replaced once by the cached one when the cache is used)."""
        return self._core

    @property
    def done(self) -> bool:
        """True once the thread has finished (completed, cancelled or failed)."""
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled and self._done.is_set()

    @property
    def error(self) -> BaseException | None:
        """The exception that stopped the digest, if any."""
        return self._error

    @property
    def from_cache(self) -> bool:
        """True if the digest was loaded from ``<log>.digest``."""
        return self._from_cache

    @property
    def saved_cache(self) -> bool:
        """True if this digest wrote ``<log>.digest``."""
        return self._saved_cache

    @property
    def progress(self) -> float:
        """Fraction of the log digested so far, 0..1 (1 once done unless cancelled/failed)."""
        consumed, _received, target = self._core.progress()
        if self._done.is_set() and not self._cancelled and self._error is None:
            return 1.0
        if target <= 0:
            return 0.0
        return min(1.0, consumed / target)

    def info(self) -> dict[str, Any]:
        """The C digest's counters and state (see ``Digester.info``)."""
        return self._core.info()

    def __repr__(self) -> str:
        state = (
            "failed" if self._error else "cancelled" if self.cancelled
            else "done" if self.done else f"{self.progress:.0%}"
        )
        return f"<Digest {self.path!r} {state}>"

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self.use_cache and self._load_cache():
                return
            core = self._core
            fd = self._file.fileno()
            last_size, last_growth = -1, time.monotonic()
            while True:
                # finish() is observed before the read, so what was written before it is read
                finishing = self._finish.is_set()
                before = os.fstat(fd)
                eof = core.feed_fd(fd)
                info = core.info()
                if info["have_header"]:
                    self._header_ready.set()
                if not eof or self._cancelled:
                    self._cancelled = True
                    break
                if info["complete"]:
                    break
                size = info["offset"] + info["pending"]
                if size != last_size:
                    last_size, last_growth = size, time.monotonic()
                idle = (
                    self.idle_timeout is not None
                    and time.monotonic() - last_growth >= self.idle_timeout
                )
                if not self.follow or finishing or idle:
                    if not info["have_header"]:
                        raise self._header_error(info)
                    finishing = True
                    break
                self._stop.wait(self.poll_interval)
                if self._cancelled:
                    break
            if not self._cancelled and (info["complete"] or not self.follow or finishing):
                after = os.fstat(fd)
                if (
                    self.use_cache
                    and info["have_header"]
                    and before.st_size == after.st_size == info["offset"] + info["pending"]
                    and before.st_mtime_ns == after.st_mtime_ns
                ):
                    self._save_cache(after)
        except BaseException as e:  # reported through wait()/error, never lost in the thread
            self._error = e
        finally:
            self._close_file()
            self._header_ready.set()
            self._done.set()

    def _header_error(self, info: dict[str, Any]) -> ProfileFormatError:
        got = info["pending"]
        if got == 0:
            return ProfileFormatError(f"empty file: not a heapprof_nb log (no header): {self.path}")
        return ProfileFormatError(
            f"incomplete header: the file has {got} bytes (file cut short or still being "
            f"written): {self.path}"
        )

    def _close_file(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass

    # -- cache -----------------------------------------------------------------------------------

    def _cache_key(self, st: os.stat_result) -> dict[str, Any]:
        return {
            "log_size": st.st_size,
            "log_mtime_ns": st.st_mtime_ns,
            "log_header_sha256": _header_digest(self._file, st.st_size),
            "options": self._options,
        }

    def _load_cache(self) -> bool:
        """Load ``<log>.digest`` if it matches the log; True if it was used."""
        path = cache_path(self.path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return False
        try:
            st = os.fstat(self._file.fileno())
            key, blob = _parse_cache(data)
            if key.get("key") != self._cache_key(st):
                return False
            core = _digest.Digester.load(blob)
        except Exception:  # noqa: BLE001 - whatever is wrong with a cache, the log is the truth
            return False
        info = core.info()
        if self.follow and not info["complete"]:
            return False  # a log without a TRAILER may still grow: read it
        self._core = core
        self._from_cache = True
        self._header_ready.set()
        return True

    def _save_cache(self, st: os.stat_result) -> None:
        """Write ``<log>.digest`` atomically; a read-only directory just means no cache."""
        path = cache_path(self.path)
        tmp = f"{path}.tmp{os.getpid()}.{threading.get_ident()}"
        try:
            blob = self._core.dump()
            key = {"key": self._cache_key(st), "blob_len": len(blob),
                   "blob_blake2b": hashlib.blake2b(blob).hexdigest()}
            head = json.dumps(key, sort_keys=True).encode("utf-8")
            # Private like the profile it summarises (it holds its strings and cell sources),
            # and never through a planted symlink or an existing file.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(_CACHE_MAGIC)
                f.write(struct.pack("<II", _CACHE_VERSION, len(head)))
                f.write(head)
                f.write(blob)
            os.replace(tmp, path)
            self._saved_cache = True
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _parse_cache(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split and check a cache file: magic, version, JSON key, checksummed blob."""
    fixed = len(_CACHE_MAGIC) + 8
    if len(data) < fixed or data[: len(_CACHE_MAGIC)] != _CACHE_MAGIC:
        raise ValueError("not a digest cache")
    version, head_len = struct.unpack_from("<II", data, len(_CACHE_MAGIC))
    if version != _CACHE_VERSION or head_len > _MAX_CACHE_KEY or fixed + head_len > len(data):
        raise ValueError("unknown or damaged digest cache")
    key = json.loads(data[fixed : fixed + head_len].decode("utf-8"))
    if not isinstance(key, dict):
        raise ValueError("damaged digest cache key")
    blob = data[fixed + head_len :]
    if key.get("blob_len") != len(blob) or key.get("blob_blake2b") != hashlib.blake2b(
        blob
    ).hexdigest():
        raise ValueError("digest cache checksum mismatch")
    return key, blob
