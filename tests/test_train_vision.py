"""The vision pre-training stage (Florence-2's part) and the frozen-vision feature reuse, on a tiny world."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from florenz.config import load_config
from florenz.errors import FlorenzError
from florenz.train.loop import train_run
from florenz.train.vision_pretrain import render_set, world_settings
from florenz.world.build import heldout_contents
from florenz.world.scene import scene_key
from tests.test_train import overrides

VISION = {"train.vision_pretrain_samples": 64, "train.vision_pretrain_images": 80,
          "train.vision_pretrain_batch_size": 16, "model.freeze": "default"}


def test_render_set_is_disjoint_from_heldout_and_labels_match(tiny_world):
    world = world_settings(tiny_world)
    images, labels, heads = render_set(world, 40)
    assert images.shape == (40, world.image_size, world.image_size, 3) and images.std() > 0
    assert labels.shape == (40, world.max_objects, 5)
    present = labels[..., 0] < heads.shapes
    assert present[:, 0].all()  # every scene has at least one object
    assert (labels[~present][:, 1:] == -100).all()  # empty slots state nothing but "no object"
    again, _, _ = render_set(world, 40)
    assert np.array_equal(images, again)  # deterministic in the world's seed
    held = {scene_key(c) for c in heldout_contents(world)}
    assert held  # the check below would be empty otherwise
    # the stage's seed stream differs from the study's splits: its images are new renders
    from florenz.data.dataset import load_split

    train = load_split(tiny_world, "train").images.dense
    assert not any(np.array_equal(images[0], x) for x in train)


def _vision_state(run_dir) -> dict[str, torch.Tensor]:
    state = load_file(str(run_dir / "model" / "model.safetensors"))
    return {k: v for k, v in state.items() if k.startswith(("vision_tower.", "projector."))}


def test_vision_stage_trains_tower_reports_cost_beside_c_and_caches(tiny_world, tmp_path):
    cache = tmp_path / "vcache"
    plain = train_run(load_config("micro", overrides(tiny_world, **{"model.freeze": "default"})), tmp_path / "plain")
    cached = {**VISION, "train.vision_pretrain_cache": str(cache)}
    miss = train_run(load_config("micro", overrides(tiny_world, **cached)), tmp_path / "miss")
    assert miss["vision_pretrain_samples"] == 64 and miss["vision_pretrain_compute"] > 0
    assert miss["vision_pretrain_cached"] is False and "shape" in miss["vision_pretrain_accuracy"]
    # C is the VL stage's alone, as without the stage (the paper's C excludes Florence-2's pre-training)
    assert miss["compute"] == pytest.approx(plain["compute"])
    v_plain, v_miss = _vision_state(tmp_path / "plain"), _vision_state(tmp_path / "miss")
    assert any(not torch.equal(v_plain[k], v_miss[k]) for k in v_plain)  # the stage changed the tower
    entry = torch.load(next(cache.glob("vision-*/stage.pt")), weights_only=False)["model"]
    # frozen in the VL stage: the saved tower is the pre-trained one, bit for bit
    assert all(torch.equal(entry[k], v_miss[k]) for k in v_miss)
    hit = train_run(load_config("micro", overrides(tiny_world, **cached)), tmp_path / "hit")
    assert hit["vision_pretrain_cached"] is True
    assert hit["final_loss"] == miss["final_loss"] and hit["decoder_lm_final_loss"] == miss["decoder_lm_final_loss"]


def test_a_fixed_vision_seed_gives_every_training_seed_one_tower(tiny_world, tmp_path):
    """With train.vision_pretrain_seed set, the tower depends on that seed alone: training seeds 0 and 1 get the
    same tower, computed once into the cache or each on its own; with the default (-1) they differ."""
    shared = {**VISION, "train.vision_pretrain_seed": 5}
    cached = {**shared, "train.vision_pretrain_cache": str(tmp_path / "vcache")}
    runs = {}
    for name, extra, seed in [("own0", shared, 0), ("own1", shared, 1), ("c0", cached, 0), ("c1", cached, 1)]:
        runs[name] = train_run(load_config("micro", overrides(tiny_world, **extra, **{"train.seed": seed})),
                               tmp_path / name)
        runs[name]["tower"] = _vision_state(tmp_path / name)
    assert runs["c0"]["vision_pretrain_cached"] is False and runs["c1"]["vision_pretrain_cached"] is True
    assert runs["c1"]["vision_pretrain_seed"] == 5
    assert len(list((tmp_path / "vcache").glob("vision-*/stage.pt"))) == 1
    for name in ("own1", "c0", "c1"):
        assert all(torch.equal(runs["own0"]["tower"][k], v) for k, v in runs[name]["tower"].items()), name
    assert runs["own0"]["final_loss"] != runs["own1"]["final_loss"]  # the VL stage still follows train.seed
    default1 = train_run(load_config("micro", overrides(tiny_world, **VISION, **{"train.seed": 1})), tmp_path / "d1")
    assert default1["final_loss"] != runs["own1"]["final_loss"] and default1["vision_pretrain_seed"] == 1
    tower = _vision_state(tmp_path / "d1")
    assert any(not torch.equal(runs["own1"]["tower"][k], v) for k, v in tower.items())


def test_frozen_vision_features_give_the_same_run(tiny_world, tmp_path):
    fast = train_run(load_config("micro", overrides(tiny_world, **VISION)), tmp_path / "fast")
    slow = train_run(load_config("micro", overrides(tiny_world, **VISION, **{"train.frozen_vision_features": "false"})),
                     tmp_path / "slow")
    assert fast["final_loss"] == pytest.approx(slow["final_loss"], rel=1e-4, abs=1e-5)
    assert fast["flops_per_sample"] == slow["flops_per_sample"]  # F still counts the vision forward


@pytest.mark.parametrize("key,value", [("train.vision_pretrain_samples", -1),
                                       ("train.vision_pretrain_images", 10),
                                       ("train.vision_pretrain_seed", -2)])
def test_bad_vision_settings_fail_before_work(tiny_world, tmp_path, key, value):
    with pytest.raises(FlorenzError, match=key.split(".")[1]):
        train_run(load_config("micro", overrides(tiny_world, **{**VISION, key: value})), tmp_path / "bad")
