"""The build API other packages use: image(), metadata_json(), vmlinux_sha256, defaults."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from orchestrator.errors import InfraError
from orchestrator.kernel import build as kbuild
from orchestrator.kernel import defaults
from orchestrator.kernel.image import KernelImage
from orchestrator.vm import guest


def test_image_metadata_and_vmlinux_sha256(cache: Path, fake_tree: Path) -> None:
    res = kbuild.build(kbuild.BuildRequest(tree=fake_tree, jobs=1))
    img = res.image()
    assert isinstance(img, KernelImage) and guest.KernelImage is KernelImage
    assert (img.vmlinux, img.bzimage, img.config, img.system_map) == (
        res.vmlinux, res.bzimage, res.config, res.system_map)
    assert not img.pvh()
    meta = res.metadata_json()
    want = hashlib.sha256(res.vmlinux.read_bytes()).hexdigest()
    assert meta["vmlinux_sha256"] == want == res.vmlinux_sha256
    assert meta["commit"] and meta["toolchain"]["clang"]
    assert res.to_json()["vmlinux_sha256"] == want


def test_metadata_of_an_older_result_gains_vmlinux_sha256(cache: Path, fake_tree: Path) -> None:
    res = kbuild.build(kbuild.BuildRequest(tree=fake_tree, jobs=1))
    raw = json.loads(res.metadata.read_text())
    del raw["vmlinux_sha256"]
    res.metadata.write_text(json.dumps(raw))
    assert res.metadata_json()["vmlinux_sha256"] == hashlib.sha256(
        res.vmlinux.read_bytes()).hexdigest()
    assert "vmlinux_sha256" in json.loads(res.metadata.read_text()), "stored once computed"


@pytest.mark.parametrize("damage", ["not json {", '["a list"]', '{"tree": 3}'])
def test_corrupt_metadata_is_an_infra_error(cache: Path, fake_tree: Path, damage: str) -> None:
    res = kbuild.build(kbuild.BuildRequest(tree=fake_tree, jobs=1))
    res.metadata.write_text(damage)
    with pytest.raises(InfraError) as exc:
        res.metadata_json()
    assert exc.value.reason == "bad-build-metadata" and str(res.metadata) in exc.value.message


def test_resolve_request_applies_defaults_once(fake_tree: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "default_tree", lambda: fake_tree / "default")
    monkeypatch.setattr(defaults, "default_fragments", lambda: ["base", "x"])
    req = defaults.resolve_request()
    assert req.tree == fake_tree / "default" and req.fragments == ["base", "x"]
    assert req.base_config == "tinyconfig" and req.jobs >= 1 and req.rev is None
    assert req.targets == kbuild.DEFAULT_TARGETS
    req = defaults.resolve_request(tree=str(fake_tree), rev="HEAD", base_config="defconfig",
                                   fragments=[], options=["A=y"], jobs=3)
    assert (req.tree, req.rev, req.base_config, req.fragments, req.options, req.jobs) == (
        fake_tree, "HEAD", "defconfig", [], ["A=y"], 3)
