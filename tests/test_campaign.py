"""Search campaigns on Ray Tune, end to end on tiny networks and synthetic data.

Ray runs on loopback in this process (one session for the module); the
resume test drives the `gespace` command in a subprocess and kills it; the
cluster test starts its own `ray start --head` and stops only that.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from gespace.grammar import load_space, point_id
from gespace.train.faults import FAULTS
from search.campaign import RAY_LOG, CampaignError, connect_ray, run_campaign
from search.curves import read_scalars, run_directory
from search.records import phase_records
from search.settings import CampaignSettings
from search.store import CampaignStore

pytestmark = pytest.mark.slow

SPEC = """\
name: tiny
backbone: {arch: cifar_resnet, depth: 8, width: 4, in_channels: 1, image_size: 16, num_classes: 10}
ge:
  placement: {stages: {choice: [[], all], default: all}}
  gather:
    op: {choice: [pool, dwconv]}
    extent: {choice: [2, global], default: global}
  excite:
    mlp: {choice: [none, se]}
    reduction: 2
train:
  dataset: synthetic
  epochs: 2
  batch_size: 64
  lr: {choice: [0.05, 0.1], default: 0.05}
  val_fraction: 0.25
anchors:
  baseline: {ge.placement.stages: []}
  se: {ge.excite.mlp: se}
  ge-theta-minus: {ge.gather.op: pool}
  ge-theta: {ge.gather.op: dwconv}
  ge-theta-plus: {ge.gather.op: dwconv, ge.excite.mlp: se}
"""
# 2 lr x (1 + pool: 2 extents x 2 mlp + dwconv: 2 x 2) = 18 points.


def write(tmp_path: Path, text: str, name: str = "tiny.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


FAULTS_SPEC = """\
name: faults
backbone: {arch: cifar_resnet, depth: 8, width: 4, in_channels: 1, image_size: 16}
ge: {placement: {stages: all}}
train:
  dataset: {choice: [synthetic, imagefolder], default: synthetic}
  epochs: 2
  lr: {choice: [0.05, 1000.0, 0.02], default: 0.05}
  weight_decay: 0.0
  momentum: 0.99
  val_fraction: 0.25
"""


def faults_point_id(tmp_path: Path, **knobs) -> str:
    space = load_space(write(tmp_path, FAULTS_SPEC, "faults.yaml"))
    return point_id(space.canonicalise(knobs))


@pytest.fixture(scope="module", autouse=True)
def ray_session(tmp_path_factory):
    import ray

    # Ray's workers inherit the driver's environment when it starts them: a fault for the one
    # point of FAULTS_SPEC with lr 0.02 (which trains well) makes its loss NaN.
    injected = faults_point_id(tmp_path_factory.mktemp("faults"), **{"train.lr": 0.02})
    saved = os.environ.get(FAULTS)
    os.environ[FAULTS] = f"nonfinite-loss:{injected}"
    connect_ray(None, cpus=2)
    yield
    ray.shutdown()
    if saved is None:
        os.environ.pop(FAULTS)
    else:
        os.environ[FAULTS] = saved


def campaign(tmp_path: Path, spec: str, **overrides) -> list[dict]:
    settings = CampaignSettings(spec=spec, name=overrides.pop("name", "c"), storage=str(tmp_path / "runs"),
                                **{"num_samples": 8, "scheduler": "none", "max_concurrent": 2,
                                   "anchor_seeds": 1, **overrides})
    store = run_campaign(settings, progress=False)
    return store.records()


def test_random_campaign_anchors_first_no_repeats(tmp_path):
    spec = write(tmp_path, SPEC)
    records = campaign(tmp_path, spec, num_samples=9, searcher="random")
    space = load_space(spec)
    anchor_ids = [point_id(p) for _, p in space.anchors()]
    ordered = sorted(records, key=lambda r: r.order)
    assert [r.id for r in ordered[:5]] == anchor_ids
    assert [r.name for r in ordered[:5]] == [n for n, _ in space.anchors()]
    assert len(records) == 9 == len({r.id for r in records})
    for r in records:
        assert r.status == "ok", r
        # The id is the canonical point's, whatever form the stored point takes (JSON lists).
        assert point_id(space.canonicalise(r.point)) == r.id == point_id(r.point)
        assert len(r.epochs) == 2 and 0 <= r.val_error <= 1 and 0 <= r.test_error <= 1
        assert r.cost.gmacs > 0 and r.cost.params_m > 0
        # The trial's own clock: set-up, then training, inside [started_at, finished_at].
        assert 0 <= r.setup_time and r.started_at < r.finished_at
        assert r.setup_time + r.train_time <= r.finished_at - r.started_at + 0.01
    # Parameter-free GE adds no parameters; the SE subnet and dwconv gather do.
    by_name = {r.name: r for r in records if r.name}
    assert by_name["ge-theta-minus"].cost.params == by_name["baseline"].cost.params
    assert by_name["ge-theta-plus"].cost.params > by_name["ge-theta"].cost.params > \
        by_name["baseline"].cost.params


def test_grid_dedups_and_constraints_reject(tmp_path):
    spec = write(tmp_path, SPEC + "constraints:\n  max_params_m: 0.0053\n")
    space = load_space(spec)
    records = campaign(tmp_path, spec, num_samples=40, searcher="grid", max_concurrent=3)
    assert len({r.id for r in records}) == len(records) == space.count() == 18
    rejected = [r for r in records if r.status == "rejected"]
    trained = [r for r in records if r.status == "ok"]
    assert rejected and trained and len(rejected) + len(trained) == 18
    assert all(r.cost.params_m > 0.0053 and "max_params_m" in r.reason and not r.epochs
               for r in rejected)
    assert all(r.cost.params_m <= 0.0053 for r in trained)


def test_failing_and_diverging_points_are_isolated(tmp_path):
    """A point whose data is missing fails and one that diverges is recorded so, whatever the
    numerics: lr 1000 blows up (to NaN, or to 1e16 first, by thread count and precision) and the
    lr-0.02 point, which trains well, meets an injected NaN loss (the module's GESPACE_FAULTS)."""
    spec = write(tmp_path, FAULTS_SPEC, "faults.yaml")
    records = campaign(tmp_path, spec, num_samples=6, searcher="grid", data_root=None)
    status = {(r.point["train.dataset"], r.point["train.lr"]): r for r in records}
    assert status[("synthetic", 0.05)].status == "ok"
    assert status[("imagefolder", 0.05)].status == "failed"
    assert "imagefolder" in status[("imagefolder", 0.05)].reason
    assert status[("synthetic", 1000.0)].status == "diverged"
    assert "training loss became" in status[("synthetic", 1000.0)].reason
    injected = status[("synthetic", 0.02)]
    assert injected.status == "diverged" and injected.id == faults_point_id(tmp_path, **{"train.lr": 0.02})
    assert injected.reason.startswith("training loss became nan ")
    assert len(records) == 6


@pytest.mark.parametrize("searcher", ["tpe", "nsga2", "sobol"])
def test_model_based_searchers_honour_conditions(tmp_path, searcher):
    spec = write(tmp_path, SPEC)
    space = load_space(spec)
    records = campaign(tmp_path, spec, num_samples=8, searcher=searcher, name=searcher,
                       objectives=["val_error", "params_m"] if searcher == "nsga2" else ["val_error", "gmacs"])
    ordered = sorted(records, key=lambda r: r.order)
    assert [r.name for r in ordered[:5]] == [n for n, _ in space.anchors()]
    assert len(records) == len({r.id for r in records}) == 8
    for r in records:
        assert space.canonicalise(r.point, strict=True) == {k: tuple(v) if isinstance(v, list) else v
                                                               for k, v in r.point.items()}
        assert r.status == "ok"


def test_seeds_anchors_and_confirmation(tmp_path):
    """Anchors under 2 seeds, a sampled point under 1; then the confirmation phase trains the search's
    most likely front point under 2 fresh seeds at the full budget. The anchors already have 2
    full-budget runs, so the confirmation reuses them instead of training them again."""
    spec = write(tmp_path, SPEC)
    space = load_space(spec)
    settings = CampaignSettings(spec=spec, name="seeds", storage=str(tmp_path / "runs"), num_samples=6,
                                scheduler="none", max_concurrent=2, anchor_seeds=2, seeds=1, confirm=1,
                                confirm_seeds=2, seed=5)
    store = run_campaign(settings, progress=False)
    records = store.records()
    units = [r.unit for r in records]
    assert len(units) == len(set(units)) == 5 * 2 + 1 + 2
    search = [r for r in records if r.phase == "search"]
    anchors = {point_id(p) for _, p in space.anchors()}
    assert all(sorted(r.seed for r in search if r.id == a) == [5, 6] for a in anchors)
    sampled = [r for r in search if r.id not in anchors]
    assert len(sampled) == 1 and sampled[0].seed == 5 and sampled[0].name is None
    confirmed = [r for r in records if r.phase == "confirm"]
    chosen = json.loads((store.directory / "confirmation.json").read_text())
    assert [c["name"] for c in chosen] == [None]
    assert {r.id for r in confirmed} == {sampled[0].id}  # the one sampled point has p_front > 0
    assert all(r.status == "ok" and r.epochs_done == 2 and r.seed in (1005, 1006) for r in confirmed)
    assert {r.id for r in phase_records(records, "confirm")} == anchors | {sampled[0].id}
    # A resume trains nothing more: every (point, seed) of both phases is done.
    again = run_campaign(dataclasses.replace(settings), resume=True, progress=False)
    assert [r.unit for r in again.records()] == units


def test_multi_objective_successive_halving_with_calibration(tmp_path):
    """mosha on 3 epochs (a rung at epoch 1) beside a calibration cohort of 4 points x 2 seeds; the
    searched points that went on are the best third at the rung by non-dominated sorting, as the
    campaign's decisions.jsonl says."""
    from search.schedulers import SuccessiveHalving

    spec = write(tmp_path, SPEC.replace("epochs: 2", "epochs: 3").split("anchors:")[0]
                 + "anchors:\n  baseline: {ge.placement.stages: []}\n")
    settings = CampaignSettings(spec=spec, name="mo", storage=str(tmp_path / "runs"), num_samples=7,
                                scheduler="mosha", calibrate=4, grace=1, max_concurrent=2, anchor_seeds=2)
    store = run_campaign(settings, progress=False)
    records = store.latest()
    cohort = [r for r in records if r.calibration]
    assert len(cohort) == 8 and {r.seed for r in cohort} == {0, 1} and len({r.id for r in cohort}) == 4
    assert all(r.status == "ok" and r.epochs_done == 3 for r in cohort)
    searched = [r for r in records if not r.calibration]
    assert len(searched) == 6 and all(r.seed == 0 and r.name is None for r in searched)
    grace = 1
    went_on = {r.unit for r in searched if r.epochs_done == 3}
    # The searched trials that went on are the best third at the rung by non-dominated sorting of
    # (error at the rung, GMACs), errors within the cohort's seed noise there counting as equal: the
    # campaign's recorded decision, and the same decision remade from the records.
    decision = next(d for d in store.decisions() if d["rung"] == grace and d["complete"])
    assert went_on == {tuple(u) for u in decision["promoted"]} and len(went_on) == 2
    remade = SuccessiveHalving(max_t=3, grace=grace, eta=3)
    for r in records:
        remade.restore(r.unit, {grace: (r.epochs[grace - 1]["val_error"], r.cost.gmacs)}, grace, exempt=r.calibration)
    remade.done_launching()
    assert set(remade.promotions()) == went_on
    assert all(r.status == "stopped" and r.epochs_done == grace for r in searched if r.unit not in went_on)
    # Every full-budget record carries which validation and test images it classified right.
    for r in records:
        if r.status == "ok":
            assert 1 - r.bits("test").correct().mean() == pytest.approx(r.test_error)
            assert 1 - r.bits("val").correct().mean() == pytest.approx(r.val_error)
        else:
            assert r.images is None
    # A promoted trial continued its checkpoint in a second Tune trial: one record with the whole history.
    assert all([e["epoch"] for e in r.epochs] == [1, 2, 3] and r.status == "ok" for r in searched
               if r.unit in went_on)
    assert len(store.records()) == len(records) + len(went_on)  # the stopped record, then the continuation
    # Each (point, seed) is one TensorBoard run whose validation curve has every epoch it trained.
    for r in records:
        curve = read_scalars(run_directory(store.directory, r.name, r.id, r.seed))["validation/top1_error_percent"]
        assert [step for step, _ in curve] == [e["epoch"] for e in r.epochs]
        assert [value for _, value in curve] == pytest.approx([100 * e["val_error"] for e in r.epochs])


def _wait_for(predicate, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def _driver_env() -> dict:
    return {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


# What Ray, Tune or Python print, and gespace never does.
NOT_GESPACE = re.compile(r"\b(WARNING|INFO|ERROR|Traceback)\b|Error\(|ray\.|Tune|\(raylet\)|pid=")


def assert_only_gespace_lines(result: subprocess.CompletedProcess) -> None:
    """A finished campaign printed its report on the standard output and nothing else anywhere."""
    assert result.stderr == ""
    assert [line for line in result.stdout.splitlines() if NOT_GESPACE.search(line)] == []
    assert "Pareto front" in result.stdout


def test_a_full_disk_stops_the_campaign_and_resume_loses_nothing(tmp_path):
    """A disk that fills (an injected ENOSPC when one anchor writes its checkpoint) stops the
    campaign at once in one line and exit status 1, records the trial interrupted, not failed,
    starts nothing more; --resume trains what was interrupted and nothing twice."""
    spec = write(tmp_path, SPEC)
    full = point_id(dict(load_space(spec).anchors())["ge-theta-minus"])  # the third anchor
    storage = tmp_path / "runs"
    command = [sys.executable, "-m", "gespace", "search", spec, "--num-samples", "6", "--scheduler", "none",
               "--anchor-seeds", "1", "--max-concurrent", "2", "--storage", str(storage), "--name", "full",
               "--no-progress"]
    halted = subprocess.run(command, env={**_driver_env(), FAULTS: f"no-space:{full}"}, capture_output=True,
                            text=True, timeout=600)
    assert halted.returncode == 1, halted.stderr[-3000:]
    assert halted.stdout == ""
    [line] = halted.stderr.splitlines()
    checkpoint = storage / "full" / "trials" / full / "s0" / "checkpoint.pt"
    assert line == (f"gespace: campaign {storage / 'full'} stopped: no space left on device ({checkpoint}) "
                    f"(trial {full}-s0); the finished trials are kept: fix the cause, then run again with "
                    "--resume to train the interrupted ones")
    store = CampaignStore(storage / "full")
    before = store.records()
    assert {r.status for r in before} <= {"ok", "interrupted"}
    assert full in {r.id for r in before if r.status == "interrupted"}
    # Nothing launched after the failure: the last anchor and the sampled point never started.
    assert all(r.name for r in before) and len(before) <= 4
    resumed = subprocess.run(command + ["--resume"], env=_driver_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_only_gespace_lines(resumed)
    after = store.records()
    assert after[:len(before)] == before  # nothing lost
    done = {r.unit for r in before if r.status == "ok"}
    assert not [r for r in after[len(before):] if r.unit in done]  # nothing trained twice
    final = store.latest()
    assert len(final) == 6 == len({r.id for r in final}) and all(r.status == "ok" for r in final)
    assert "Failed to fetch metrics" in (store.directory / RAY_LOG).read_text()  # Tune's, kept off the terminal


def test_a_finished_checkpoint_whose_record_was_lost_is_recorded_whole(tmp_path, capfd):
    """A driver killed after a trial's last checkpoint but before its record: the resume trains
    nothing and records the trial with every epoch and its errors, as the first run would have."""
    spec = write(tmp_path, SPEC.split("anchors:")[0] + "anchors:\n  baseline: {ge.placement.stages: []}\n")
    settings = CampaignSettings(spec=spec, name="lost", storage=str(tmp_path / "runs"), num_samples=2,
                                scheduler="none", max_concurrent=2, anchor_seeds=1)
    store = run_campaign(settings, progress=False)
    whole = store.records()
    assert len(whole) == 2 and all(len(r.epochs) == 2 and r.val_error is not None for r in whole)
    lines = store.trials_path.read_text().splitlines(keepends=True)
    store.trials_path.write_text(lines[0])  # the second record never written
    again = run_campaign(dataclasses.replace(settings), resume=True, progress=False).records()
    assert again[0] == whole[0] and len(again) == 2
    lost, redone = whole[1], again[1]
    assert redone.unit == lost.unit and redone.status == "ok"
    assert redone.epochs == lost.epochs and redone.val_error == lost.val_error
    assert redone.test_error == lost.test_error and redone.best_val_error == lost.best_val_error
    # Tune's own loggers are off (the records and CAMPAIGN/tensorboard hold the figures): no
    # event files of theirs, and no warning about the history a final result carries.
    assert not list(store.directory.glob("ray-*/*/events.out.tfevents.*"))
    assert "invalid value" not in capfd.readouterr().err


def test_resume_after_killed_driver(tmp_path):
    spec = write(tmp_path, SPEC.replace("epochs: 2", "epochs: 3"))
    storage = tmp_path / "runs"
    # 7 points: the 5 anchors under 2 seeds and 2 sampled points under 1, 12 trials.
    command = [sys.executable, "-m", "gespace", "search", spec, "--num-samples", "7", "--scheduler", "none",
               "--max-concurrent", "2", "--storage", str(storage), "--name", "k", "--no-progress"]
    driver = subprocess.Popen(command, env=_driver_env(), start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = CampaignStore(storage / "k")
    try:
        assert _wait_for(lambda: len(store.records()) >= 3, 240), "no trial finished"
        # A second driver on the same campaign is refused in one line naming the first.
        second = subprocess.run(command + ["--resume"], env=_driver_env(), capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 2
        assert second.stderr.strip().count("\n") == 0, second.stderr
        assert f"is being run by pid {driver.pid} on" in second.stderr
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started
        driver.wait()
    before = store.records()
    assert 3 <= len(before) < 12
    result = subprocess.run(command + ["--resume"], env=_driver_env(), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    after = store.records()
    assert after[:len(before)] == before  # nothing lost
    counts = Counter(r.unit for r in after)
    assert len(after) == 12 and max(counts.values()) == 1  # no (point, seed) trained twice
    assert len({r.id for r in after}) == 7
    # Trials the kill cut short resumed from their checkpoints: their records hold every epoch.
    assert all([e["epoch"] for e in r.epochs] == [1, 2, 3] and r.val_error is not None for r in after)
    assert "Pareto front" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_cli() -> str:
    """Ray's command next to the running interpreter (the .venv's), never one found on PATH."""
    path = Path(sys.executable).with_name("ray")
    assert path.is_file(), f"this test needs Ray's 'ray' command beside {sys.executable}; run scripts/setup.sh"
    return str(path)


def test_campaign_across_two_nodes_of_a_cluster_without_authentication(tmp_path):
    """A cluster of two 1-CPU nodes started without token authentication (as
    `ray.cluster_utils.Cluster` does), joined by a driver that holds a token
    (~/.ray/auth_token, left by any local Ray): the driver follows the cluster, and the two
    concurrent trials run one on each node."""
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()  # this test's driver joins the cluster instead
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # for the cluster's processes
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    try:
        second = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        spec = write(tmp_path, SPEC)
        storage = tmp_path / "shared"
        env = {key: value for key, value in _driver_env().items() if key != "RAY_AUTH_MODE"}
        result = subprocess.run(
            [sys.executable, "-m", "gespace", "search", spec, "--address", cluster.address, "--num-samples", "6",
             "--scheduler", "none", "--anchor-seeds", "1", "--max-concurrent", "2", "--cpus-per-trial", "1",
             "--storage", str(storage), "--name", "two", "--no-progress"],
            env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        assert_only_gespace_lines(result)
        records = CampaignStore(storage / "two").latest()
        assert len(records) == 6 and all(r.status == "ok" for r in records)
        assert {r.node for r in records} == {cluster.head_node.node_id, second.node_id}
    finally:
        cluster.shutdown()
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE")
        else:
            os.environ["RAY_AUTH_MODE"] = saved
        connect_ray(None, cpus=2)  # back to the module's local session


def test_campaign_on_a_ray_cluster(tmp_path):
    import ray

    ray.shutdown()  # this test's driver joins the cluster instead
    port = _free_port()
    temp = Path("/tmp") / f"gsray{port}"  # Ray's socket paths must stay short
    env = _driver_env()
    head = subprocess.Popen(
        [ray_cli(), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", f"--temp-dir={temp}",
         "--include-dashboard=false", "--disable-usage-stats", "--num-cpus=2", "--block"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        spec = write(tmp_path, SPEC)
        storage = tmp_path / "shared"
        result = subprocess.run(
            [sys.executable, "-m", "gespace", "search", spec, "--address", f"127.0.0.1:{port}",
             "--num-samples", "8", "--storage", str(storage), "--name", "cluster", "--no-progress"],
            env=env, capture_output=True, text=True, timeout=600)
        # `ray start` turns token authentication on: the driver follows it, unasked.
        assert result.returncode == 0, result.stderr[-3000:]
        assert_only_gespace_lines(result)
        # 8 points: the 5 anchors under 2 seeds (never stopped) and 3 sampled points, one of which
        # the synchronous multi-objective halving (the default here) continues past epoch 1.
        records = CampaignStore(storage / "cluster").latest()
        assert len(records) == 13 == len({r.unit for r in records}) and len({r.id for r in records}) == 8
        assert all(r.status == "ok" and r.epochs_done == 2 for r in records if r.name)
        sampled = sorted((r for r in records if not r.name), key=lambda r: r.epochs_done)
        assert [(r.status, r.epochs_done) for r in sampled] == [("stopped", 1), ("stopped", 1), ("ok", 2)]
        settings = json.loads((storage / "cluster" / "campaign.json").read_text())
        assert settings["scheduler"] == "mosha"
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        connect_ray(None, cpus=2)  # back to the module's local session


def test_a_raced_confirmation_stops_at_its_budget_and_resumes_without_repeats(tmp_path):
    """--race: the anchors and the chosen point train under seed 2000, then the open ones under
    2001, ...; a budget of 8 race runs stops it after the first round (6 runs) unless 2 or fewer
    stay open; resumed with a larger budget, it goes on from the next round and trains no unit twice,
    each round exactly the points the race left in play; once it has looked, its rounds stay."""
    from search.racing import RACE_SEED, OPEN, race

    spec = write(tmp_path, SPEC)
    space = load_space(spec)
    settings = CampaignSettings(spec=spec, name="race", storage=str(tmp_path / "runs"), num_samples=6,
                                scheduler="none", max_concurrent=2, anchor_seeds=2, seeds=1, confirm=1,
                                race=True, race_rounds=6, race_budget=8, race_delta=5.0, seed=5)
    store = run_campaign(settings, progress=False)
    race_units = [r.unit for r in store.records() if r.seed >= RACE_SEED]
    assert sorted({seed for _, seed in race_units})[0] == RACE_SEED and len(race_units) <= 8
    assert len([u for u in race_units if u[1] == RACE_SEED]) == 6  # every race point in the first round
    resumed = run_campaign(dataclasses.replace(settings, race_budget=30), resume=True, progress=False)
    units = [r.unit for r in resumed.records()]
    assert len(units) == len(set(units))  # nothing trained twice
    records = resumed.latest()
    from search.campaign import race_points, race_settings

    entries = race_points(resumed, space, settings)
    costs = {pid: {"gmacs": next(r for r in records if r.id == pid).cost.gmacs} for pid in entries}
    state = race(list(entries), costs, records, race_settings(dataclasses.replace(settings, race_budget=30), space))
    assert state.next_units == [] and state.end in ("settled", "rounds", "budget") and state.looks
    for look in state.looks:  # each round trained exactly the points in play before it
        assert sorted(pid for pid, seed in units if seed == look.seed) == sorted(look.trained), (
            look.seed, look.settled, [(lk.seed, lk.settled) for lk in state.looks])
    assert all(status in (OPEN, "on", "off") for status in state.status.values())
    with pytest.raises(CampaignError, match="its race has looked already, so its 6 declared rounds stay"):
        run_campaign(dataclasses.replace(settings, race_budget=30, race_rounds=9), resume=True, progress=False)
    from search.report import write_report

    report = write_report([resumed.directory])["markdown"].read_text()
    assert "## Race: the confirmation, settled on or off the front" in report
    looks = f"{len(state.looks)} look{'' if len(state.looks) == 1 else 's'}"
    assert f"{looks}, {state.runs} race runs" in report


def test_an_ablation_trains_the_anchor_and_each_one_knob_change_under_the_same_seeds(tmp_path):
    """--searcher ablation --around ge-theta: the anchor and its 4 one-knob changes of the tiny
    space (no GE, pool gather, extent 2, SE subnet), each under seeds 0 and 1, to the full budget;
    the report's ablation table has a row per change with its difference from the anchor. A missing
    --around, an unknown anchor and a single seed are refused in one line before any training."""
    from search.ablation import one_knob_changes
    from search.report import write_report

    spec = write(tmp_path, SPEC)
    space = load_space(spec)
    settings = CampaignSettings(spec=spec, name="ablation", storage=str(tmp_path / "runs"), num_samples=1,
                                searcher="ablation", scheduler="none", seeds=2, around="ge-theta",
                                max_concurrent=2)
    for wrong, message in [({"around": None}, "needs --around ANCHOR"),
                           ({"around": "ge-theta-prime"}, "no anchor 'ge-theta-prime'"),
                           ({"seeds": 1}, "needs --seeds 2 or more")]:
        with pytest.raises(CampaignError, match=message):
            run_campaign(dataclasses.replace(settings, name=f"bad-{len(message)}", **wrong), progress=False)
    store = run_campaign(settings, progress=False)
    changes = one_knob_changes(space, "ge-theta")
    assert sorted(c.knob for c in changes) == ["ge.excite.mlp", "ge.gather.extent", "ge.gather.op",
                                               "ge.placement.stages"]
    expected = {space.point_id(space.anchor("ge-theta"))} | {c.id for c in changes}
    units = sorted(r.unit for r in store.records())
    assert units == sorted((pid, seed) for pid in expected for seed in (0, 1))
    assert all(r.epochs_done == 2 for r in store.records())  # the full budget: no early stopping
    report = write_report([store.directory])["markdown"].read_text()
    assert "## Ablation around GE-θ" in report
    for row in ("GE-θ (the anchor)", "ge.gather.op: dwconv -> pool", "ge.gather.extent: global -> 2",
                "ge.excite.mlp: none -> se (+ ge.excite.reduction 2) = GE-θ⁺", "ge.placement.stages: [2,3,4] -> [] = Baseline"):
        assert row in report, row


def test_a_raced_ablation_trains_rounds_until_each_change_is_settled_against_its_anchor(tmp_path):
    """--searcher ablation --race: the anchor and its 4 changes train a seed a round (2000, 2001,
    2002) until the first look settles each against the anchor (a 50 pp margin: each change is
    resolved or equal within it); no fixed seeds, and the report's ablation table reads the race's
    bounds."""
    from search.racing import RACE_SEED
    from search.report import write_report

    spec = write(tmp_path, SPEC)
    settings = CampaignSettings(spec=spec, name="raced", storage=str(tmp_path / "runs"), num_samples=1,
                                searcher="ablation", scheduler="none", seeds=1, around="ge-theta", race=True,
                                race_rounds=4, race_delta=50.0, max_concurrent=2)
    store = run_campaign(settings, progress=False)
    seeds = sorted({r.seed for r in store.records()})
    assert seeds == [RACE_SEED, RACE_SEED + 1, RACE_SEED + 2] and len(store.records()) == 15
    report = write_report([store.directory])["markdown"].read_text()
    assert "raced against the anchor, a seed a round (1 look)" in report
    import csv

    rows = list(csv.DictReader((store.directory / "ablation.csv").open()))
    assert len(rows) == 5 and [r["verdict"] for r in rows[1:]] == [
        r["verdict"] for r in rows[1:] if r["verdict"] in ("better", "worse", "equal within 50 pp")]
    # A change's first race run failing: the campaign counts the unit done and still looks after round
    # 3 (the change on 2 seeds); the report replays the race on the same records, so it looks too.
    import dataclasses

    failed = next(r for r in store.latest() if r.seed == RACE_SEED and r.name is None)
    store.append(dataclasses.replace(failed, status="failed", val_error=None, test_error=None, epochs=[],
                                     images=None))
    report = write_report([store.directory])["markdown"].read_text()
    assert "raced against the anchor, a seed a round (1 look)" in report
