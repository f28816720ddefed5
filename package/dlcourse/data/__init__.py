"""Datasets of the course: where they live and how they are loaded.

- :mod:`dlcourse.data.paths`: the data root (``$DLCOURSE_DATA`` or ``~/.dlcourse/data``).
- :mod:`dlcourse.data.coco`: COCO captioning in the course format (real or offline).
- :mod:`dlcourse.data.offline_coco`: generator of the offline captioning set.

Downloads are in :mod:`dlcourse.download` (``python -m dlcourse.download --list``).
"""
from dlcourse.data.coco import (
    END,
    NULL,
    SPECIAL_TOKENS,
    START,
    UNK,
    decode_captions,
    load_coco_data,
    sample_coco_minibatch,
)
from dlcourse.data.offline_coco import ensure_offline_coco, generate_offline_coco
from dlcourse.data.paths import data_root

__all__ = [
    "NULL", "START", "END", "UNK", "SPECIAL_TOKENS",
    "load_coco_data", "sample_coco_minibatch", "decode_captions",
    "generate_offline_coco", "ensure_offline_coco", "data_root",
]
