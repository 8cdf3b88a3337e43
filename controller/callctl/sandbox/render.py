"""Rendering a sandbox's Asterisk configs from the repo's templates (pure, but for file reads).

The same templates serve the ansible deployment: one source for both.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from callctl.build.fileutil import create_new

TEMPLATE_PACKAGE = "callctl"
TEMPLATE_DIR = "templates/asterisk"


def _env() -> jinja2.Environment:
    root = resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_DIR)
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,  # a missing variable is an error, not an empty line
        keep_trailing_newline=True,
        autoescape=False,
    )


def template_names() -> list[str]:
    return sorted(n for n in _env().list_templates() if n.endswith(".conf.j2"))


def render_all(variables: dict[str, Any]) -> dict[str, str]:
    env = _env()
    return {
        name[: -len(".j2")]: env.get_template(name).render(**variables) for name in template_names()
    }


def write_configs(etc_dir: Path, files: dict[str, str], secret_files: set[str]) -> None:
    """Write each config as a new file; secret ones are 0600 from their first byte."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        mode = 0o600 if name in secret_files else 0o644
        create_new(etc_dir / name, text.encode("utf-8"), mode)
