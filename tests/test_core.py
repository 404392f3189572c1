"""The shared core: categories, atomic I/O, path containment, the partitioned runner."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from icaa.pipeline.categories import (
    CLASS_SCORE_COLUMNS, ICAA17K_CATEGORIES, class_score_column, pair_category,
)
from icaa.common.errors import IcaaError
from icaa.common.files import resolve_inside
from icaa.pipeline.io import read_table, write_table
from icaa.pipeline.partitions import run_partitioned
from icaa.pipeline.schemas import column


def test_there_are_exactly_30_categories_15_of_each_kind():
    assert len(ICAA17K_CATEGORIES) == 30 == len(set(ICAA17K_CATEGORIES)) == len(CLASS_SCORE_COLUMNS)
    assert sum(c.startswith("complementary/") for c in ICAA17K_CATEGORIES) == 15


def test_categories_match_the_icaa17k_release_folders(shared_dir):
    with open(shared_dir / "reference/icaa17k/1all.csv", newline="") as handle:
        folders = {"/".join(row["ID"].split("/")[:2]) for row in csv.DictReader(handle)}
    assert folders == set(ICAA17K_CATEGORIES)


def test_pair_category_uses_canonical_order_whatever_the_argument_order():
    assert pair_category("blue", "red") == pair_category("red", "blue") == "complementary/red_blue"
    assert pair_category("blue", "green") == "complementary/green_blue"
    with pytest.raises(ValueError, match="distinct"):
        pair_category("red", "red")
    assert class_score_column("monochromatic/darkgreen") == "class_score_monochromatic_darkgreen"


def test_resolve_inside_refuses_paths_escaping_the_root(tmp_path):
    (tmp_path / "a").mkdir()
    assert resolve_inside(tmp_path, "a/x.jpg") == (tmp_path / "a/x.jpg").resolve()
    for escaping in ("../../x.jpg", "/etc/passwd", "a/../../x.jpg"):
        with pytest.raises(IcaaError, match="escapes the image root"):
            resolve_inside(tmp_path, escaping)


def test_read_table_errors_are_clear(tmp_path):
    with pytest.raises(IcaaError, match="no such file"):
        read_table(tmp_path / "missing.parquet")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(IcaaError, match="expected a .parquet or .csv"):
        read_table(tmp_path / "x.json")


SQUARES = {"squares": pa.schema([column("item", pa.string(), "id"), column("square", pa.int64(), "n^2")])}


def square_chunk(rows: pd.DataFrame, *, fail_on: str | None = None, log: str | None = None) -> dict:
    if log:
        with open(log, "a") as handle:
            handle.write(",".join(rows["item"]) + "\n")
    if fail_on is not None and fail_on in set(rows["item"]):
        raise RuntimeError(f"boom on {fail_on}")
    return {"squares": pd.DataFrame({"item": rows["item"], "square": rows["n"] ** 2})}


def test_partitioned_run_resumes_without_redoing_finished_chunks(tmp_path):
    rows = pd.DataFrame({"item": [f"i{n}" for n in range(10)], "n": range(10)})
    log = tmp_path / "calls.log"
    options = {"log": str(log)}
    with pytest.raises(RuntimeError, match="boom"):
        run_partitioned(rows, square_chunk, schemas=SQUARES, work_dir=tmp_path / "work", chunk_size=3,
                        options={**options, "fail_on": "i7"}, run_fingerprint="same", progress=False)
    assert log.read_text().splitlines() == ["i0,i1,i2", "i3,i4,i5", "i6,i7,i8"]
    result = run_partitioned(rows, square_chunk, schemas=SQUARES, work_dir=tmp_path / "work", chunk_size=3,
                             options=options, run_fingerprint="same", progress=False)
    assert log.read_text().splitlines()[3:] == ["i6,i7,i8", "i9"]
    assert result["squares"]["square"].tolist() == [n * n for n in range(10)]


def test_partitioned_run_gives_the_same_table_with_worker_processes(tmp_path):
    rows = pd.DataFrame({"item": [f"i{n}" for n in range(25)], "n": range(25)})
    one = run_partitioned(rows, square_chunk, schemas=SQUARES, work_dir=tmp_path / "one", chunk_size=4,
                          progress=False)["squares"]
    two = run_partitioned(rows, square_chunk, schemas=SQUARES, work_dir=tmp_path / "two", chunk_size=4,
                          workers=2, progress=False)["squares"]
    pd.testing.assert_frame_equal(one, two)


EVEN = {"even": SQUARES["squares"], "none": SQUARES["squares"]}


def even_square_chunk(rows: pd.DataFrame) -> dict:
    squares = square_chunk(rows)["squares"]
    return {"even": squares[squares["square"] % 2 == 0], "none": squares.iloc[:0]}


def test_a_chunk_table_without_rows_is_counted_not_written_and_gathers_as_the_declared_empty_table(tmp_path):
    rows = pd.DataFrame({"item": [f"i{n}" for n in (1, 3, 2, 4, 5, 7)], "n": [1, 3, 2, 4, 5, 7]})
    result = run_partitioned(rows, even_square_chunk, schemas=EVEN, work_dir=tmp_path / "work", chunk_size=2,
                             progress=False)
    assert result["even"]["square"].tolist() == [4, 16]
    assert list(result["none"].columns) == ["item", "square"] and len(result["none"]) == 0
    assert sorted(path.name for path in (tmp_path / "work").glob("*.parquet")) == ["part-00001.even.parquet"]
    again = run_partitioned(rows, even_square_chunk, schemas=EVEN, work_dir=tmp_path / "work", chunk_size=2,
                            progress=False)
    pd.testing.assert_frame_equal(again["even"], result["even"])


STAMPED = {"stamped": pa.schema([column("item", pa.string(), "id"),
                                 column("at", pa.timestamp("s", tz="UTC"), "when", unit="UTC")])}


def nothing_stamped_chunk(rows: pd.DataFrame) -> dict:
    return {}


def test_a_table_no_chunk_writes_gathers_empty_whatever_its_column_types(tmp_path):
    result = run_partitioned(pd.DataFrame({"item": ["a", "b", "c"]}), nothing_stamped_chunk, schemas=STAMPED,
                             work_dir=tmp_path / "work", chunk_size=2, progress=False)
    assert list(result["stamped"].columns) == ["item", "at"] and len(result["stamped"]) == 0
    assert str(result["stamped"]["at"].dtype).startswith("datetime64")


def test_a_work_dir_of_another_parts_layout_is_not_resumed(tmp_path, monkeypatch):
    import icaa.pipeline.partitions as partitions

    rows = pd.DataFrame({"item": ["i0", "i1"], "n": [0, 1]})
    log = tmp_path / "calls.log"
    run = lambda: run_partitioned(rows, square_chunk, schemas=SQUARES, work_dir=tmp_path / "work",  # noqa: E731
                                  chunk_size=1, options={"log": str(log)}, run_fingerprint="same", progress=False)
    run()
    run()
    assert log.read_text().splitlines() == ["i0", "i1"]
    monkeypatch.setattr(partitions, "_PARTS_LAYOUT", partitions._PARTS_LAYOUT - 1)
    run()
    assert log.read_text().splitlines() == ["i0", "i1", "i0", "i1"]


def pid_square_chunk(rows: pd.DataFrame, *, pid_dir: str) -> dict:
    """Squares, after a pause, recording which process computed the chunk."""
    import os
    import time

    time.sleep(0.1)
    Path(pid_dir, f"{rows['item'].iloc[0]}.{os.getpid()}").touch()
    return square_chunk(rows)


def test_local_workers_are_this_process_and_child_processes_sharing_the_chunks(tmp_path):
    import os

    rows = pd.DataFrame({"item": [f"i{n:02d}" for n in range(40)], "n": range(40)})
    (tmp_path / "pids").mkdir()
    result = run_partitioned(rows, pid_square_chunk, schemas=SQUARES, work_dir=tmp_path / "work", chunk_size=2,
                             workers=3, options={"pid_dir": str(tmp_path / "pids")}, progress=False)["squares"]
    assert result["square"].tolist() == [n * n for n in range(40)]
    pids = [int(name.split(".")[1]) for name in os.listdir(tmp_path / "pids")]
    assert len(pids) == 20  # every chunk computed once
    assert os.getpid() in pids  # this process works while the children start
    assert len(set(pids)) >= 2 and len(set(pids)) <= 3


def test_a_failing_chunk_on_local_workers_raises_and_keeps_the_finished_chunks(tmp_path):
    rows = pd.DataFrame({"item": [f"i{n}" for n in range(12)], "n": range(12)})
    with pytest.raises(RuntimeError, match="boom on i10"):
        run_partitioned(rows, square_chunk, schemas=SQUARES, work_dir=tmp_path / "work", chunk_size=2, workers=2,
                        options={"fail_on": "i10"}, run_fingerprint="same", progress=False)
    assert len(list((tmp_path / "work").glob("part-*.done"))) >= 1
    result = run_partitioned(rows, square_chunk, schemas=SQUARES, work_dir=tmp_path / "work", chunk_size=2,
                             workers=2, run_fingerprint="same", progress=False)["squares"]
    assert result["square"].tolist() == [n * n for n in range(12)]


def exit_in_child_chunk(rows: pd.DataFrame, *, parent_pid: int) -> dict:
    import os

    if os.getpid() != parent_pid:
        os._exit(3)  # a crash without a Python exception, as a segfaulting decoder or the OOM killer would do
    import time

    time.sleep(0.2)
    return square_chunk(rows)


def test_a_local_worker_process_dying_raises_a_clear_error_and_keeps_finished_chunks(tmp_path):
    import os

    rows = pd.DataFrame({"item": [f"i{n}" for n in range(8)], "n": range(8)})
    with pytest.raises(IcaaError, match="worker process died"):
        run_partitioned(rows, exit_in_child_chunk, schemas=SQUARES, work_dir=tmp_path / "work", chunk_size=2,
                        workers=2, options={"parent_pid": os.getpid()}, run_fingerprint="same", progress=False)
    assert len(list((tmp_path / "work").glob("part-*.done"))) >= 1  # the chunk computed here was kept


KILLED_RUN = """
import sys
import pandas as pd, pyarrow as pa
from icaa.pipeline.partitions import run_partitioned
from icaa.pipeline.schemas import column
from dask_chunk_jobs import slow_square_chunk

if __name__ == "__main__":
    rows = pd.DataFrame({"item_id": [f"i{n:02d}" for n in range(40)], "value": range(40)})
    schema = {"squares": pa.schema([column("item_id", pa.string(), "id"), column("square", pa.int64(), "n^2")])}
    run_partitioned(rows, slow_square_chunk, schemas=schema, work_dir=sys.argv[1], chunk_size=1, workers=2,
                    options={"seconds_per_row": 0.3, "started_dir": sys.argv[2]}, run_fingerprint="same",
                    progress=False)
"""


def _environment_with_tests_on_path(**extra: str) -> dict[str, str]:
    """This environment with the tests' folder on PYTHONPATH, where a script run as a subprocess (and its workers)
    imports the chunk functions and preload modules, plus ``extra`` variables."""
    import os

    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


def test_killing_a_run_with_local_workers_ends_its_child_processes_and_the_rerun_resumes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from dask_chunk_jobs import slow_square_chunk

    script, work, started = tmp_path / "run.py", tmp_path / "work", tmp_path / "started"
    script.write_text(KILLED_RUN)
    started.mkdir()
    env = _environment_with_tests_on_path()
    run = subprocess.Popen([sys.executable, str(script), str(work), str(started)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until a child process is in the middle of a chunk
        children = {int(name.split(".")[1]) for name in os.listdir(started)} - {run.pid}
        if children and len(list(work.glob("part-*.done"))) >= 2:
            break
        time.sleep(0.05)
    assert children, "no child process took a chunk"
    run.send_signal(signal.SIGKILL)
    run.wait()
    finished = {path.name: path.stat().st_mtime_ns for path in work.glob("part-*.done")}

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its parent is gone too
            return stat.read().split(")")[-1].split()[0] != "Z"

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children), "a child process outlived the killed run"
    rows = pd.DataFrame({"item_id": [f"i{n:02d}" for n in range(40)], "value": range(40)})
    schema = {"squares": pa.schema([column("item_id", pa.string(), "id"), column("square", pa.int64(), "n^2")])}
    result = run_partitioned(rows, slow_square_chunk, schemas=schema, work_dir=work, chunk_size=1,
                             run_fingerprint="same", progress=False)["squares"]
    assert result["square"].tolist() == [n * n for n in range(40)]
    assert all((work / name).stat().st_mtime_ns == mtime for name, mtime in finished.items())  # none redone

def test_write_table_is_atomic_and_leaves_no_temporary_files(tmp_path):
    write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]
    assert read_table(tmp_path / "t.parquet")["a"].tolist() == [1, 2]


def test_an_arrow_table_written_against_its_declaration_gets_the_declared_schema_and_keeps_its_refusals(tmp_path):
    """Columns of the declared types are relabelled rather than cast; a null where the declaration forbids one
    is refused as the cast refuses it, also for a stage's unchecked parts."""
    import pyarrow.parquet as pq

    from icaa.pipeline.schemas import REJECTS

    rows = {name: ["x"] for name in REJECTS.names}
    rows.update(stage=["scan"], reason=["missing"])
    write_table(pa.table(rows).select(list(reversed(REJECTS.names))), tmp_path / "r.parquet", REJECTS)
    assert pq.read_schema(tmp_path / "r.parquet").equals(REJECTS, check_metadata=True)
    rows["image_id"] = [None]
    with pytest.raises(ValueError, match="null values to non-nullable"):
        write_table(pa.table(rows, schema=pa.schema([(f.name, f.type) for f in REJECTS])), tmp_path / "p.parquet",
                    REJECTS, check=False)
    assert not (tmp_path / "p.parquet").exists()


def test_a_list_column_written_against_its_declaration_takes_the_declared_child_name():
    """A list read from Parquet names its child ``element`` where the schemas say ``item``: the column takes the
    declared type, so that the table's columns agree with its schema (and pyarrow.compute stays unloaded)."""
    from icaa.pipeline.io import _contract_table
    from icaa.pipeline.schemas import COLOUR_PARTS

    elements = pa.array([[50.0, 10.0, 20.0]], pa.list_(pa.field("element", pa.float64())))
    table = _contract_table(pa.table({"dominant_lab": elements}), "l.parquet",
                            pa.schema([COLOUR_PARTS.field("dominant_lab")]), check=False)
    assert table.column("dominant_lab").type.value_field.name == "item" == table.schema[0].type.value_field.name


WORKERS_RUN = """
import json, os, sys, threading
import pandas as pd, pyarrow as pa
from icaa.pipeline import worker_start
from icaa.pipeline.partitions import run_partitioned
from icaa.pipeline.schemas import column
from dask_chunk_jobs import report_process_chunk

if __name__ == "__main__":
    work, report, mode = sys.argv[1:4]
    preload = tuple(sys.argv[4:]) or ("preload_marker",)
    if mode == "fork server":
        worker_start.FORKS_FROM_HERE = False
    if mode == "another thread":
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    before = {thread.ident for thread in threading.enumerate()}
    threads_at_fork = []
    os.register_at_fork(before=lambda: threads_at_fork.append(
        [thread.name for thread in threading.enumerate() if thread.ident not in before]))
    rows = pd.DataFrame({"item_id": [f"i{n}" for n in range(6)], "value": range(6)})
    schema = {"squares": pa.schema([column("item_id", pa.string(), "id"), column("square", pa.int64(), "n^2")])}
    try:
        result = run_partitioned(rows, report_process_chunk, schemas=schema, work_dir=work, chunk_size=1, workers=2,
                                 options={"report_dir": report}, preload=preload, progress=True)
    except KeyboardInterrupt:
        print("KeyboardInterrupt after the finished chunks")
        sys.exit(0)
    assert result["squares"]["square"].tolist() == [n * n for n in range(6)]
    print(json.dumps({"pid": os.getpid(), "threads_at_fork": threads_at_fork}))
"""


def _run_workers(tmp_path, mode: str) -> tuple[int, list, list[tuple[int, str]]]:
    """Run six chunks on two local workers in a fresh process; its pid, the new threads at each fork, and
    (pid, pid that imported ``preload_marker``) of every chunk computed in a child."""
    import json
    import os
    import subprocess
    import sys

    script, report = tmp_path / "run.py", tmp_path / "report"
    script.write_text(WORKERS_RUN)
    report.mkdir()
    # Python 3.11's fork server ignores the parent's sys.path; the tests' folder reaches it by the environment.
    env = _environment_with_tests_on_path()
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "work"), str(report), mode], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout.splitlines()[-1])
    chunks = [(int(pid), imported) for pid, imported in (path.read_text().split() for path in report.iterdir())]
    in_children = [(pid, imported) for pid, imported in chunks if pid != run["pid"]]
    assert len(chunks) == 6 and in_children, "no chunk ran in a child process"
    return run["pid"], run["threads_at_fork"], in_children


@pytest.mark.skipif(not __import__("icaa.pipeline.worker_start").pipeline.worker_start.FORKS_FROM_HERE,
                    reason="children are forked from the running process on Linux only")
def test_local_workers_are_forked_after_the_preload_and_before_the_run_starts_a_thread(tmp_path):
    parent, threads_at_fork, in_children = _run_workers(tmp_path, "fork")
    # Every child started with the module imported by the parent before the fork, when the run (its progress
    # bar included) had started no thread.
    assert {imported for _, imported in in_children} == {str(parent)}
    assert threads_at_fork == [[]]


@pytest.mark.parametrize("mode", ["fork server", "another thread"])
def test_local_workers_come_from_a_fork_server_where_forking_here_is_unsafe(tmp_path, mode):
    """macOS (fork unsafe) and a process with another Python thread (a notebook kernel, a Dask client): the
    fork server imports the preload, neither this process nor the child that ran the chunk."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("this platform has no fork server")
    parent, _, in_children = _run_workers(tmp_path, mode)
    assert all(imported not in (str(parent), str(pid), "None") for pid, imported in in_children)
    assert len({imported for _, imported in in_children}) == 1


def test_ctrl_c_while_the_fork_server_imports_stops_the_run_without_a_traceback(tmp_path):
    """Another Python thread makes the children come from a fork server (as in a notebook); a Ctrl-C at the
    terminal (SIGINT to the whole process group) while the server imports its preload is the run's to handle."""
    import multiprocessing
    import os
    import signal
    import subprocess
    import sys
    import time

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("this platform has no fork server")
    script, report, started = tmp_path / "run.py", tmp_path / "report", tmp_path / "preload-started"
    script.write_text(WORKERS_RUN)
    report.mkdir()
    env = _environment_with_tests_on_path(ICAA_TEST_PRELOAD_STARTED=str(started), ICAA_TEST_PRELOAD_SECONDS="3")
    run = subprocess.Popen([sys.executable, str(script), str(tmp_path / "work"), str(report), "another thread",
                            "slow_preload"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 60
    while not started.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started.exists(), "the fork server never imported the preload"
    os.killpg(run.pid, signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert "KeyboardInterrupt after the finished chunks" in out
    assert "Traceback" not in err
