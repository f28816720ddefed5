"""Loading saved SimCLR weights: from a file and from a URL (a local server).

The course publishes no weights. A GPU run of the notebook saves a checkpoint
{"arch", "state_dict"}; ``load_pretrained`` is what the notebook calls when ``WEIGHTS``
names such a file in a later session. It must load weights from a file or a URL (cached
by torch.hub), accept a bare state_dict or a checkpoint that wraps it under "state_dict",
take the architecture from the checkpoint when none is given, and refuse weights of
another architecture.
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


def test_the_checkpoint_the_notebook_saves_loads_with_its_architecture(tmp_path):
    torch.manual_seed(6)
    trained = Model(arch="resnet18")
    path = tmp_path / "simclr_resnet18.pth"
    torch.save({"arch": "resnet18", "state_dict": trained.state_dict()}, path)
    model = load_pretrained(str(path))
    assert model.arch == "resnet18" and torch.equal(model.f[0].weight, trained.f[0].weight)
    with pytest.raises(RuntimeError):  # an explicit architecture wins, and must fit
        load_pretrained(str(path), arch="small")
