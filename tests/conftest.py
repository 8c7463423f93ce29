"""Shared test fixtures: paths to the real public data beside the project, small threads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """A 48-scene micro world shared by the training, sweep and evaluation tests."""
    from florenz.world.build import ensure_world
    from florenz.world.config import WorldConfig

    cfg = WorldConfig(train_scenes=48, heldout_scenes=8, lm_sentences=64, shard_size=32)
    return ensure_world(cfg, tmp_path_factory.getbasetemp() / "worlds")


@pytest.fixture(scope="session")
def real_checkpoints(tmp_path_factory, shared_data):
    """Tiny Florence-2 / Gemma-2 checkpoints in transformers' format, laid out like the hub repositories:
    `real_checkpoints("florence-community/Florence-2-base")` is that directory (written on first use)."""
    from tests.real_checkpoints import RealCheckpoints

    return RealCheckpoints(tmp_path_factory.mktemp("hub"), shared_data)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest single-threaded (and a loaded 2-core box makes threads crawl); modules that
    want it say `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
