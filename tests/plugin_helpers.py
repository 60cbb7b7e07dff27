"""Install the example provider package the way an installer lays it out, offline.

An installed distribution is its package directory plus a ``NAME-VERSION.dist-info``
holding ``METADATA`` and ``entry_points.txt``; ``importlib.metadata`` finds it on
``sys.path`` (here: ``PYTHONPATH``). Building a wheel would need ``wheel`` and a
newer setuptools from PyPI at test time, so this lays the same files out from the
package's own ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

EXAMPLE_PLUGIN = Path(__file__).parent / "plugins" / "va-example-provider"


def install_plugin(source: Path, target: Path) -> Path:
    """Lay ``source`` (a pyproject-based package) out in ``target`` as installed; returns it."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    packages = tomllib.loads((source / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    for package in packages:
        shutil.copytree(source / package, target / package)
    info = target / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    groups = project.get("entry-points", {})
    lines = []
    for group, points in groups.items():
        lines.append(f"[{group}]")
        lines.extend(f"{point} = {value}" for point, value in points.items())
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    return target
