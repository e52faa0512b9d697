"""Per-image correctness in records, and intervals over seeds and images: a round trip through the
record and the store, the two-way random model against a hand computation and statsmodels' ANOVA,
a pair that only the images resolve, and old records that report seeds only."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.meta_analysis import combine_effects

from gespace.images import ImageBits, split_identity
from search.components import two_way
from search.records import CostFigures, RecordError, TrialRecord
from search.statistics import Noise, summarise
from search.store import CampaignStore, CorruptRecords
from search.verdicts import Experiment, adjusted


def record(pid: str, seed: int, correct: dict[str, np.ndarray] | None, split: str = "s") -> TrialRecord:
    images = {name: ImageBits.of(c, split).to_json() for name, c in correct.items()} if correct else None
    val = 1 - float(correct["val"].mean()) if correct else 0.1
    test = 1 - float(correct["test"].mean()) if correct else 0.1
    return TrialRecord(id=pid, status="ok", point={}, seed=seed, cost=CostFigures(gmacs=1.0), val_error=val,
                       test_error=test, epochs=[{"epoch": 1, "val_error": val}], images=images)


def test_bits_round_trip_through_the_record_and_the_store(tmp_path):
    rng = np.random.default_rng(0)
    correct = {"val": rng.random(3001) < 0.9, "test": rng.random(10_000) < 0.93}
    store = CampaignStore(tmp_path)
    store.append(record("a", 0, correct))
    read = store.records()[0]
    for split, bits in correct.items():
        assert (read.bits(split).correct() == bits).all() and read.bits(split).images == bits.size
    assert read.schema == 3 and 1 - read.bits("test").correct().mean() == pytest.approx(read.test_error)
    # 10,000 images in 1,250 bytes (1,668 characters of base64).
    assert len(read.images["test"]["bits"]) == 1668
    assert split_identity("fashion-mnist", "test", np.arange(5)) != split_identity("fashion-mnist", "val", np.arange(5))
    bad = {**read.to_json(), "images": {"val": {"split": "s", "images": 100, "bits": "AAAA"}}}
    with pytest.raises(RecordError, match="images.val: not per-image bits"):
        TrialRecord.from_json(bad)
    (tmp_path / "trials.jsonl").write_text(__import__("json").dumps(bad) + "\n")
    with pytest.raises(CorruptRecords, match="trials.jsonl:1: not a trial record"):
        CampaignStore(tmp_path).records()


def test_the_two_way_interval_by_hand_and_against_statsmodels():
    """3 seeds x 8 images of 0/1 errors: mean squares by their definitions, Var(mean) =
    (MS_I + MS_S - MS_E) / (N S), sigma_b^2 = (MS_S - MS_E) / N, Satterthwaite's df."""
    y = np.array([[1, 0, 0, 1, 0, 0, 1, 0],
                  [1, 1, 0, 1, 0, 0, 0, 0],
                  [1, 0, 0, 1, 1, 0, 1, 1]], dtype=float)
    S, N = y.shape
    grand = y.sum() / (S * N)
    seed_means = [sum(row) / N for row in y]
    image_means = [sum(y[s][i] for s in range(S)) / S for i in range(N)]
    ms_s = N * sum((m - grand) ** 2 for m in seed_means) / (S - 1)
    ms_i = S * sum((m - grand) ** 2 for m in image_means) / (N - 1)
    ms_e = sum((y[s][i] - seed_means[s] - image_means[i] + grand) ** 2
               for s in range(S) for i in range(N)) / ((S - 1) * (N - 1))
    result = two_way(y)
    assert result.mean == pytest.approx(grand)
    assert result.stderr == pytest.approx(math.sqrt((ms_i + ms_s - ms_e) / (N * S)))
    assert result.seed_variance == pytest.approx((ms_s - ms_e) / N)
    assert result.df == pytest.approx((ms_i + ms_s - ms_e) ** 2 / (ms_i ** 2 / (N - 1) + ms_s ** 2 / (S - 1)
                                                                  + ms_e ** 2 / ((S - 1) * (N - 1))))
    # The same mean squares from statsmodels' two-way ANOVA (seed + image, no interaction).
    frame = pd.DataFrame([(s, i, y[s, i]) for s in range(S) for i in range(N)], columns=["seed", "image", "y"])
    table = anova_lm(smf.ols("y ~ C(seed) + C(image)", frame).fit(), typ=2)
    mean_squares = table["sum_sq"] / table["df"]
    assert mean_squares["C(seed)"] == pytest.approx(ms_s) and mean_squares["C(image)"] == pytest.approx(ms_i)
    assert mean_squares["Residual"] == pytest.approx(ms_e)
    # One seed: the images' share alone, the binomial SE of the error rate.
    one = two_way(y[:1])
    assert one.stderr == pytest.approx(np.std(y[0], ddof=1) / math.sqrt(N)) and one.seed_variance is None


def designs(extra: int, seeds: int = 3, images: int = 3000, flips: float = 0.03, seed: int = 0):
    """Two designs under the same seeds on one split: a tenth of the images hard for both, ``extra``
    more that design a always gets wrong, and every run's own random 3% of misses."""
    rng = np.random.default_rng(seed)
    hard = rng.random(images) < 0.1
    worse = np.zeros(images, dtype=bool)
    worse[rng.choice(np.flatnonzero(~hard), extra, replace=False)] = True
    runs = {}
    for pid, wrong in (("a", hard | worse), ("b", hard)):
        runs[pid] = {s: ~(wrong ^ (rng.random(images) < flips)) for s in range(seeds)}
    return runs


def experiment_of(runs: dict) -> Experiment:
    errors = {pid: {s: 1 - float(c.mean()) for s, c in by_seed.items()} for pid, by_seed in runs.items()}
    bits = {pid: {s: ("split", c) for s, c in by_seed.items()} for pid, by_seed in runs.items()}
    return Experiment(errors, bits=bits), Experiment(errors)


def test_a_difference_on_few_images_is_resolved_image_wise_where_seeds_cannot():
    """Design a misses 30 more of 3,000 images (1 pp) under all three seeds: image by image the
    difference is resolved; over the three seeds' errors alone (2 df) it is not. With two seeds the
    seeds' share cannot be measured: seeds only."""
    with_images, seeds_only = experiment_of(designs(extra=30, seed=1))
    image_wise = adjusted([with_images.pair("a", "b")])[0]
    assert image_wise.test.method == "images and seeds" and image_wise.test.seeds == (0, 1, 2)
    assert image_wise.verdict == "worse" and image_wise.test.estimate == pytest.approx(0.0094, abs=0.005)  # 30 / 3000 x (1 - 2 x 3%)
    seed_wise = adjusted([seeds_only.pair("a", "b")])[0]
    assert seed_wise.test.method == "blocked model" and seed_wise.verdict.startswith("not resolved")
    # Per seed, McNemar's difference with its variance from the images; combined by statsmodels'
    # random-effects meta-analysis (Paule-Mandel).
    runs = designs(extra=30, seed=1)
    d = np.array([runs["b"][s].astype(float) - runs["a"][s] for s in range(3)])
    combined = combine_effects(d.mean(1), d.var(1, ddof=1) / d.shape[1], method_re="iterated")
    assert image_wise.test.estimate == pytest.approx(combined.mean_effect_re)
    assert image_wise.test.stderr == pytest.approx(combined.sd_eff_w_re)
    two, _ = experiment_of(designs(extra=30, seeds=2))
    assert two.pair("a", "b").method == "blocked model"
    # Two designs that do not differ are not resolved image-wise either.
    same, _ = experiment_of(designs(extra=0, seed=1))
    assert adjusted([same.pair("a", "b")])[0].verdict.startswith("not resolved")


def test_point_intervals_count_images_where_records_have_bits_and_seeds_only_where_not():
    runs = designs(extra=45)
    new = [record(pid, s, {"val": c, "test": c}) for pid, by_seed in runs.items() for s, c in by_seed.items()]
    old = [record(pid, s, None) for pid in ("c", "d") for s in range(3)]
    by_id = {s.id: s for s in summarise(new + old, Noise(0.01, 10, 5))}
    a = by_id["a"].error
    expected = two_way(np.array([~c for c in runs["a"].values()], dtype=float))
    assert a.images and a.stderr == pytest.approx(expected.stderr) and a.mean == pytest.approx(expected.mean)
    assert by_id["a"].test.images
    assert not by_id["c"].error.images and by_id["c"].error.stderr == pytest.approx(0.01 / math.sqrt(3))


def test_a_report_of_old_records_says_it_counts_seeds_only(tmp_path):
    from search.sections import campaign_sections

    old = [record(pid, s, None) for pid in ("c", "d") for s in range(2)]
    sections, _ = campaign_sections("c", old, ["val_error", "gmacs"], False)
    assert any("Intervals count seeds only" in note for note in sections[0].notes)
    runs = designs(extra=45)
    new = [record(pid, s, {"val": c, "test": c}) for pid, by_seed in runs.items() for s, c in by_seed.items()]
    sections, _ = campaign_sections("c", new, ["val_error", "gmacs"], False)
    assert any("Intervals of 2 of 2 points count seeds and images" in note for note in sections[0].notes)
