"""Checkpoint adapter: official DeT state dicts load strictly, ImageNet DAT checkpoints initialise the backbone."""

from __future__ import annotations

import pytest
import torch

from icaa.model import DeT, checkpoint_filter_fn, load_official_checkpoint

MICRO = "dat_micro"

DET_ONLY = ("ref_point14", "ref_gate", "hst_head", "hist_feature", "class_head")


def _imagenet_dat_checkpoint(source: DeT) -> dict:
    """What DAT v1 saves: the backbone without DeT's parts, a 1000-class cls_head, under "model"."""
    state = {k: v.clone() for k, v in source.state_dict().items() if not any(part in k for part in DET_ONLY)}
    state["cls_head.weight"] = torch.randn(1000, source.cfg.dims[-1])
    state["cls_head.bias"] = torch.randn(1000)
    return {"model": state, "optimizer": {}, "epoch": 299}


def test_official_state_dict_loads_strict_and_is_reported_as_det(tmp_path):
    torch.manual_seed(0)
    source = DeT.from_config(MICRO)
    path = tmp_path / "det.pth"
    torch.save(source.state_dict(), path)
    target = DeT.from_config(MICRO)
    report = load_official_checkpoint(target, path, strict=True)
    assert report.kind == "det" and not report.skipped and not report.initialised
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_imagenet_dat_checkpoint_initialises_backbone_and_reports_skipped_head():
    torch.manual_seed(0)
    source = DeT.from_config(MICRO)
    checkpoint = _imagenet_dat_checkpoint(source)
    torch.manual_seed(1)
    target = DeT.from_config(MICRO)
    fresh = {k: v.clone() for k, v in target.state_dict().items()}
    report = load_official_checkpoint(target, checkpoint)
    assert report.kind == "dat_backbone"
    assert set(report.skipped) == {"cls_head.weight", "cls_head.bias"}
    assert "1000" in report.skipped["cls_head.weight"]
    assert all(any(part in key for part in DET_ONLY) or key.startswith("cls_head") for key in report.initialised)
    assert "stages.3.attns.1.ref_gate.weight" in report.initialised
    after = target.state_dict()
    assert torch.equal(after["stages.2.attns.1.proj_q.weight"], checkpoint["model"]["stages.2.attns.1.proj_q.weight"])
    assert torch.equal(after["hst_head.weight"], fresh["hst_head.weight"])
    assert after["hist_feature.widths"].data_ptr() == after["hist_feature.bin_widths_conv.weight"].data_ptr()
    assert "cls_head.bias" in report.summary()


def test_strict_load_refuses_an_imagenet_checkpoint_with_the_reason():
    source = DeT.from_config(MICRO)
    with pytest.raises(ValueError, match="not a complete DeT state dict"):
        load_official_checkpoint(DeT.from_config(MICRO), _imagenet_dat_checkpoint(source), strict=True)


def test_ddp_prefix_is_removed_and_unknown_keys_are_reported():
    source = DeT.from_config(MICRO)
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    state["module.extra.weight"] = torch.zeros(3)
    filtered, report = checkpoint_filter_fn(state, DeT.from_config(MICRO))
    assert report.skipped == {"extra.weight": "not a DeT key"}
    assert set(filtered) == set(source.state_dict())


def test_position_bias_tables_are_resized_for_another_input_size():
    source = DeT.from_config(MICRO)  # 224 px: stage-3 rpe_table 4 x 27 x 27 (14 x 14 map)
    target = DeT.from_config(MICRO, img_size=448)  # 28 x 28 map: 4 x 55 x 55
    report = load_official_checkpoint(target, source.state_dict())
    assert "stages.2.attns.1.rpe_table" in report.resized
    assert target.stages[2].attns[1].rpe_table.shape == (4, 55, 55)


def test_a_non_checkpoint_raises_a_clear_error():
    with pytest.raises(ValueError, match="no state dict found"):
        load_official_checkpoint(DeT.from_config(MICRO), {"epoch": 3, "config": "x"})
