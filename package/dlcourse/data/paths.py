"""Where the course keeps its data.

Everything lives under one folder, the *data root*:

- ``$DLCOURSE_DATA`` when that environment variable is set (graders, CI, tests),
- otherwise ``~/.dlcourse/data``.

Inside it, the real COCO captioning archive is extracted to ``coco_captioning/`` and the
offline stand-in (generated on this machine) lives in ``coco_offline/``.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "DLCOURSE_DATA"


def data_root() -> Path:
    """The data root: ``$DLCOURSE_DATA`` if set (and not empty), else ``~/.dlcourse/data``.

    The folder is not created here; writers create it when they need it.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".dlcourse" / "data"


def coco_dir() -> Path:
    """Folder of the real COCO captioning archive (``data_root()/coco_captioning``)."""
    return data_root() / "coco_captioning"


def offline_coco_dir() -> Path:
    """Folder of the generated offline captioning set (``data_root()/coco_offline``)."""
    return data_root() / "coco_offline"
