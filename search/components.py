"""Variance components over seeds and images: intervals that count both.

A run's error on an evaluation split is the mean, over its N images, of a 0/1
outcome (1: misclassified). For S runs of one design (its seeds) on the same N
images, the outcomes y[s, i] follow the two-way random model

    y[s, i] = mu + b[s] + a[i] + e[s, i],
    b ~ (0, sigma_b^2): the seed: how a run differs from the design's mean on the
        test distribution (its distribution-wise run-to-run variance),
    a ~ (0, sigma_a^2): the image: how hard it is, shared by every run,
    e ~ (0, sigma_e^2): the run-by-image residual,

and the design's error on the distribution, estimated by the grand mean, has
variance sigma_a^2 / N + sigma_b^2 / S + sigma_e^2 / (N S). With the mean
squares of seeds (MS_S, S - 1 df), images (MS_I, N - 1 df) and residual (MS_E,
(S - 1)(N - 1) df), E[MS_S] = sigma_e^2 + N sigma_b^2, E[MS_I] = sigma_e^2 +
S sigma_a^2 and E[MS_E] = sigma_e^2, so

    Var(mean) = (MS_I + MS_S - MS_E) / (N S)      (unbiased),
    sigma_b^2 = (MS_S - MS_E) / N                 (unbiased),

with Satterthwaite's degrees of freedom for the t interval. A seed-only interval
(the seeds' errors, their sample variance over S) counts the images only through
the seeds' scatter on this one test set; the binomial SE of a 7% error on 10,000
images, 0.26 pp, is the images' share alone.

Two designs scored under the same seeds on the same images are compared image by
image, McNemar-style per seed and combined over seeds (`paired_over_images`):
under seed s the difference of their errors is d_s, the mean over images of
their outcome differences (-1, 0, 1; images both get right or both get wrong
add 0), with variance v_s = (sample variance of those differences) / N from the
images themselves; the seeds' d_s are combined by a random-effects
meta-analysis (statsmodels' `combine_effects`, Paule-Mandel's tau^2 of the
between-seed variance, truncated at 0), whose normal interval counts both the
images (v_s) and how far the seeds disagree beyond them (tau^2). Where the
seeds agree as closely as their images allow, tau^2 is 0 and the interval is
the images': narrower than what three seeds' errors alone can give, which have
2 df. That is the premise measured by Jordan (2024): runs differ little on the
test distribution (small tau^2). With few seeds tau^2 is itself uncertain, and
the normal interval does not carry that (Hartung-Knapp's would, at the price of
t with S - 1 df, which is the seeds-only interval again).

Both need ``MIN_SEEDS`` (3) seeds or more: with two, the seeds' share rests on 1
df, a chi-square below a tenth of its mean one time in four; with fewer, gespace
counts the seeds only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.meta_analysis import combine_effects

MIN_SEEDS = 3  # seeds an interval over images and seeds needs (module doc)


@dataclass(frozen=True)
class Components:
    """The grand mean of a seeds x images table and its variance under the two-way random model."""

    mean: float
    seeds: int
    images: int
    stderr: float
    df: float
    seed_variance: float | None  # sigma_b^2, unbiased (may be negative); None with one seed
    image_variance: float  # sigma_a^2, unbiased (may be negative)


def two_way(values: np.ndarray) -> Components:
    """``values`` [seeds, images] (0/1 errors, or differences of them) -> `Components`."""
    y = np.asarray(values, dtype=float)
    seeds, images = y.shape
    mean = float(y.mean())
    by_seed, by_image = y.mean(1), y.mean(0)
    ms_images = seeds * float(((by_image - mean) ** 2).sum()) / (images - 1)
    if seeds == 1:
        return Components(mean, 1, images, math.sqrt(ms_images / images), images - 1, None, ms_images)
    ms_seeds = images * float(((by_seed - mean) ** 2).sum()) / (seeds - 1)
    residual = y - by_seed[:, None] - by_image[None, :] + mean
    df_residual = (seeds - 1) * (images - 1)
    ms_residual = float((residual ** 2).sum()) / df_residual
    variance = (ms_images + ms_seeds - ms_residual) / (images * seeds)
    pieces = ms_images ** 2 / (images - 1) + ms_seeds ** 2 / (seeds - 1) + ms_residual ** 2 / df_residual
    df = (ms_images + ms_seeds - ms_residual) ** 2 / pieces if pieces > 0 else float(df_residual)
    return Components(mean, seeds, images, math.sqrt(max(variance, 0.0)), max(df, 1.0),
                      (ms_seeds - ms_residual) / images, (ms_images - ms_residual) / seeds)


def paired_over_images(differences: np.ndarray) -> Components:
    """``differences`` [seeds, images] of two designs' 0/1 errors -> their mean difference with the
    per-seed McNemar variances combined over seeds by random effects (module doc); df: normal."""
    d = np.asarray(differences, dtype=float)
    seeds, images = d.shape
    per_seed = d.mean(1)
    variances = np.maximum(d.var(1, ddof=1), 1.0 / images ** 2) / images  # 0 discordant images: one's worth
    combined = combine_effects(per_seed, variances, method_re="iterated")
    return Components(float(combined.mean_effect_re), seeds, images, float(combined.sd_eff_w_re), math.inf,
                      float(combined.tau2), float("nan"))
