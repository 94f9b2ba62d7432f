"""inferno.experiments.sweep: grid order, the local pool, the store that resumes, retries and
reported failures, and the same table on a real Dask LocalCluster."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from inferno import experiments
from inferno.experiments import SweepStore, grid_points, sweep


def area(width, height, seed=0):
    return {"area": width * height + seed, "pid_parity": 0}


def scalar(x):
    return x * x


def flaky(x, marker_dir):
    """Fails on its first call for x == 2, succeeds on the second (a transient failure)."""
    marker = Path(marker_dir) / f"{x}.tried"
    if x == 2 and not marker.exists():
        marker.write_text("1")
        raise RuntimeError("transient")
    return {"y": 10 * x}


def broken(x):
    if x == 3:
        raise ValueError(f"bad point {x}")
    return {"y": x}


def dies(x):
    if x == 3:
        os._exit(7)  # the worker process dies without a Python exception
    return {"y": x + 0.5}


def counted(x, log):
    with open(log, "a") as f:
        f.write(f"{x}\n")
    return {"y": 2 * x}


def test_grid_points_cross_product_in_order_and_explicit_points():
    assert grid_points({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    frame = pd.DataFrame({"a": [3, 1], "b": [0.5, 0.25]})
    assert grid_points(frame) == [{"a": 3, "b": 0.5}, {"a": 1, "b": 0.25}]
    assert grid_points([{"a": 1}, {"a": 5}]) == [{"a": 1}, {"a": 5}]
    for bad, match in (({}, "no parameter"), ({"a": []}, "grid.a: is empty"), ({"a": "xyz"}, "grid.a: must be a list"),
                       ([], "no point"), ([{"a": 1}, 7], r"grid\[1\]")):
        with pytest.raises(ValueError, match=match):
            grid_points(bad)


@pytest.mark.parametrize("workers", [1, 2])
def test_results_follow_the_grid_order_with_hand_computed_values(workers):
    table = sweep(area, {"width": [1, 2, 3], "height": [10, 20], "seed": [0, 1]}, workers=workers, progress=False)
    assert list(table.columns) == ["width", "height", "seed", "area", "pid_parity"]
    assert len(table) == 12
    expected = [w * h + s for w in (1, 2, 3) for h in (10, 20) for s in (0, 1)]
    assert table.area.tolist() == expected
    scalars = sweep(scalar, {"x": [3, 1, 2]}, workers=workers, progress=False)
    assert scalars.result.tolist() == [9, 1, 4]
    with pytest.raises(ValueError, match="appears more than once"):
        sweep(scalar, [{"x": 1}, {"x": 1}], workers=workers, progress=False)


def test_a_store_resumes_an_interrupted_sweep(tmp_path):
    log, store = tmp_path / "calls.log", tmp_path / "runs.jsonl"
    grid = {"x": [1, 2, 3, 4], "log": [str(log)]}
    first = sweep(counted, grid, workers=1, store=store, progress=False)
    assert first.y.tolist() == [2, 4, 6, 8]
    assert len(store.read_text().splitlines()) == 4
    # Interrupted: the last two records lost, the last one torn mid-write.
    lines = store.read_text().splitlines()
    store.write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])
    log.write_text("")
    again = sweep(counted, grid, workers=2, store=store, progress=False)
    pd.testing.assert_frame_equal(again, first)
    assert sorted(int(v) for v in log.read_text().split()) == [3, 4]  # only the missing points ran
    log.write_text("")
    assert sweep(counted, grid, store=store, progress=False).y.tolist() == [2, 4, 6, 8]
    assert log.read_text() == ""  # nothing left to run
    # A damaged record that is not the last line is an error naming the line.
    store.write_text("not json\n" + store.read_text())
    with pytest.raises(ValueError, match="line 1 is not a sweep record"):
        SweepStore(store)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_point_is_retried_once_then_reported_and_the_others_kept(tmp_path, workers):
    table = sweep(flaky, {"x": [1, 2, 3], "marker_dir": [str(tmp_path)]}, workers=workers, progress=False)
    assert table.y.tolist() == [10, 20, 30]  # the transient failure passed on its retry
    assert "error" not in table
    with pytest.warns(RuntimeWarning, match=r"1 of 4 points failed twice.*'x': 3"):
        table = sweep(broken, {"x": [1, 2, 3, 4]}, workers=workers, progress=False)
    assert table.y.tolist()[:2] == [1, 2] and table.y.tolist()[3] == 4 and pd.isna(table.y[2])
    assert table.error.tolist()[2] == "ValueError: bad point 3 (first attempt: ValueError: bad point 3)"
    assert table.error.isna().tolist() == [True, True, False, True]


def test_a_dead_worker_process_is_reported_with_its_grid_point():
    with pytest.warns(RuntimeWarning, match=r"'x': 3"):
        table = sweep(dies, {"x": [1, 2, 3, 4, 5]}, workers=2, progress=False)
    assert table.y.tolist()[:2] == [1.5, 2.5] and table.y.tolist()[3:] == [4.5, 5.5]
    assert table.error.notna().tolist() == [False, False, True, False, False]
    assert "BrokenProcessPool" in table.error[2]


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="function must be callable"):
        sweep(42, {"x": [1]})
    with pytest.raises(ValueError, match="workers must be an integer"):
        sweep(scalar, {"x": [1]}, workers=0)
    with pytest.raises(ValueError, match="must be JSON numbers"):
        sweep(scalar, {"x": [object()]}, progress=False)
    with pytest.raises(ValueError, match="which are parameters of the point"):
        sweep(lambda x: {"x": 2}, {"x": [1]}, workers=1, progress=False)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    import dask

    # KilledWorker after the first death: the sweep's own retry is the one retry.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, silence_logs=40)
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()


@pytest.mark.dask
def test_dask_gives_the_local_pools_table_row_for_row(dask_client, tmp_path):
    grid = {"width": [1, 2, 3], "height": [10, 20], "seed": [0, 1]}
    local = sweep(area, grid, workers=2, progress=False)
    remote = sweep(area, grid, client=dask_client, progress=False)
    pd.testing.assert_frame_equal(remote, local)
    # By address too, with a store that a local resume reads.
    address = dask_client.scheduler.address
    store = tmp_path / "runs.jsonl"
    by_address = sweep(area, grid, client=address, store=store, progress=False)
    pd.testing.assert_frame_equal(by_address, local)
    assert [json.loads(line)["result"]["area"] for line in store.read_text().splitlines()] != []


@pytest.mark.dask
def test_dask_retries_a_failure_once_and_reports_a_killed_worker(dask_client, tmp_path):
    table = sweep(flaky, {"x": [1, 2, 3], "marker_dir": [str(tmp_path)]}, client=dask_client, progress=False)
    assert table.y.tolist() == [10, 20, 30]
    with pytest.warns(RuntimeWarning, match=r"'x': 3"):
        died = sweep(dies, {"x": [1, 2, 3, 4]}, client=dask_client, progress=False)
    assert died.y.tolist()[:2] == [1.5, 2.5] and died.y.tolist()[3] == 4.5
    assert "KilledWorker" in died.error[2] or "died" in died.error[2].lower()
    assert experiments.sweep is sweep
