from __future__ import annotations

import json
from pathlib import Path

import pytest

from ietrainer.data import BatchPlan, read_manifest
from ietrainer.errors import UsageError


@pytest.mark.parametrize("batch_size", [2, 3, 16, 17, 128, 256])
def test_target_fraction_at_least_a_third(batch_size: int) -> None:
    plan = BatchPlan(n_target=50, n_pool=5000, batch_size=batch_size, seed=3, target_fraction=1 / 3)
    for step in range(20):
        batch = plan.batch(step)
        assert len(batch) == batch_size
        n_target = sum(1 for idx, _ in batch if idx < 50)
        assert n_target * 3 >= batch_size
        assert all(0 <= idx < 5050 for idx, _ in batch)


def test_pool_fills_the_rest_and_no_duplicates_when_possible() -> None:
    plan = BatchPlan(n_target=100, n_pool=1000, batch_size=30, seed=0, target_fraction=1 / 3)
    batch = [idx for idx, _ in plan.batch(0)]
    assert sum(idx < 100 for idx in batch) == 10
    assert len(set(batch)) == len(batch)


def test_all_target_without_pool_and_small_target() -> None:
    plan = BatchPlan(n_target=5, n_pool=0, batch_size=16, seed=0, target_fraction=1 / 3)
    batch = plan.batch(4)
    assert len(batch) == 16 and all(idx < 5 for idx, _ in batch)


def test_batches_are_a_function_of_seed_and_step() -> None:
    a = BatchPlan(40, 400, 32, seed=11, target_fraction=1 / 3)
    b = BatchPlan(40, 400, 32, seed=11, target_fraction=1 / 3)
    c = BatchPlan(40, 400, 32, seed=12, target_fraction=1 / 3)
    assert a.batch(9) == b.batch(9)
    assert a.batch(9) != a.batch(10)
    assert a.batch(9) != c.batch(9)
    it = a.iterate(5)
    assert next(it) == a.batch(5) and next(it) == a.batch(6)


def test_manifest_resolves_relative_paths_and_rejects_bad_shapes(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"target": ["a.jpg"], "candidates": None}))
    m = read_manifest(str(path))
    assert m.target == [str(tmp_path / "a.jpg")] and m.candidates == [] and m.replay == []

    path.write_text(json.dumps({"target": "a.jpg"}))
    with pytest.raises(UsageError, match="list of image paths"):
        read_manifest(str(path))
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not readable JSON"):
        read_manifest(str(path))
    # The counts its writer records must match the lists (the train stage writes them).
    counts = {"target": 1, "candidates": 0, "replay": 0}
    path.write_text(json.dumps({"target": ["a.jpg"], "counts": counts}))
    assert read_manifest(str(path)).counts() == counts
    path.write_text(json.dumps({"target": ["a.jpg"], "counts": {**counts, "replay": 3}}))
    with pytest.raises(UsageError, match="changed after it was written"):
        read_manifest(str(path))


def test_lazy_loading_with_workers_matches_in_process(image_set: dict) -> None:
    from torch.utils.data import DataLoader

    from ietrainer.config import IMAGENET_MEAN, IMAGENET_STD
    from ietrainer.legacy_augment import LazyImages, TwoViewDataset, build_augmentation

    target, pool = image_set["target"], image_set["candidates"]
    plan = BatchPlan(len(target), len(pool), batch_size=6, seed=5, target_fraction=1 / 3)
    view = build_augmentation(24, IMAGENET_MEAN, IMAGENET_STD, blur_p=1.0, solarize_p=0.2)
    dataset = TwoViewDataset(LazyImages(target, pool, 48), view, view)

    def first_batches(workers: int) -> list:
        loader = DataLoader(dataset, batch_sampler=plan.iterate(3), num_workers=workers)
        it = iter(loader)
        return [next(it) for _ in range(2)]

    serial, parallel = first_batches(0), first_batches(2)
    for (a1, a2), (b1, b2) in zip(serial, parallel, strict=True):
        assert a1.shape == (6, 3, 24, 24)
        assert a1.equal(b1) and a2.equal(b2)
    assert not serial[0][0].equal(serial[0][1])  # the two views differ
