"""The pretrained-weights path of the SimCLR notebook, against a local server.

``load_pretrained`` is what the notebook calls with the URL a course publishes: it must
load weights from a URL (cached by torch.hub) or a file, accept a checkpoint that wraps
them under "state_dict", and refuse weights of another architecture.
"""
from __future__ import annotations

import io

import pytest
import torch

from dlcourse.simclr import Model, load_pretrained
from tests.package.test_download import Route, server  # noqa: F401 (fixture)


def _bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_weights_load_from_a_url_and_from_a_file(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(5)
    trained = Model(feature_dim=16, arch="small")
    server.routes["/simclr_small.pth"] = Route(_bytes(trained.state_dict()))
    model = load_pretrained(server.url + "/simclr_small.pth", arch="small", feature_dim=16)
    for (name, p), q in zip(trained.state_dict().items(), model.state_dict().values()):
        assert torch.equal(p, q), name
    cached = list((tmp_path / "torch" / "hub" / "checkpoints").iterdir())
    assert [p.name for p in cached] == ["simclr_small.pth"]
    wrapped = tmp_path / "checkpoint.pth"
    wrapped.write_bytes(_bytes({"state_dict": trained.state_dict(), "epoch": 500}))
    again = load_pretrained(str(wrapped), arch="small", feature_dim=16)
    assert torch.equal(again.g[0].weight, trained.g[0].weight)


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "small.pth"
    path.write_bytes(_bytes(Model(feature_dim=16, arch="small").state_dict()))
    with pytest.raises(RuntimeError):
        load_pretrained(str(path), arch="resnet50", feature_dim=16)
