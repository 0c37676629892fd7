"""``modelport batch`` and results files that are not its own, or not files at all: a disk that fills up while a
resume rewrites the results, a results file that is a symlink or a named pipe, and lines of other programs that
carry an id of the requests file."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelport.batch import BatchFileError, read_finished
from modelport.testing import FakeServer

from .helpers import finish
from .test_batch import _batch, _flags, _results, _write_requests


def _cut_last_line(path: Path) -> bytes:
    """Cut the results file's last line in half, as a crash while writing it would (a resume then rewrites the
    file without it); returns what the file holds now."""
    whole = path.read_bytes()
    last = whole.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    path.write_bytes(whole[: len(whole) - len(last) // 2 - 1])
    return path.read_bytes()


def _leftovers(*folders: Path) -> list[str]:
    return sorted(p.name for folder in folders for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- a full disk --


def test_a_full_disk_on_resume_leaves_no_temporary_file(tmp_path: Path) -> None:
    requests, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = _write_requests(requests, 30)
    with FakeServer() as server:
        code, _, err = finish(_batch(str(requests), "-o", str(out), *_flags(server)))
        assert code == 0, err
        server.reset()
        cut = _cut_last_line(out)
        limit = len(cut) // 2  # the rewrite needs about the whole file: the disk "fills up" halfway

        def small_disk() -> None:  # in the child: writing past ``limit`` bytes fails with EFBIG, as ENOSPC would
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        for _ in range(2):  # two attempts, as a user would make
            run = _batch(str(requests), "-o", str(out), *_flags(server), preexec_fn=small_disk)
            code, _, err = finish(run)
            assert _leftovers(tmp_path) == []
            assert code == 2 and err.count("\n") == 1 and "File too large" in err and str(out) in err, err
            assert out.read_bytes() == cut  # the results as they were
        assert server.requests == []
        code, _, err = finish(_batch(str(requests), "-o", str(out), *_flags(server)))  # room again: it finishes
        assert code == 0, err
    assert sorted(r["custom_id"] for r in _results(out)) == ids


# -- a symlink --


def test_a_symlinked_results_file_is_written_through_the_link(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    ids = _write_requests(requests, 10)
    (tmp_path / "data").mkdir()
    target, link = tmp_path / "data" / "results.jsonl", tmp_path / "results.jsonl"
    link.symlink_to(target)
    with FakeServer() as server:
        code, _, err = finish(_batch(str(requests), "-o", str(link), *_flags(server)))
        assert code == 0, err
        _cut_last_line(target)
        code, _, err = finish(_batch(str(requests), "-o", str(link), *_flags(server)))  # rewrites, then appends
        assert code == 0, err
        assert link.is_symlink() and os.readlink(link) == str(target)
        assert sorted(r["custom_id"] for r in _results(target)) == ids

        merged, merged_target = tmp_path / "merged.jsonl", tmp_path / "data" / "merged.jsonl"
        merged_target.write_text("")
        merged.symlink_to(merged_target)
        code, _, err = finish(_batch("merge", str(requests), str(link), "-o", str(merged)))
        assert code == 0, err
        assert merged.is_symlink() and [r["custom_id"] for r in _results(merged_target)] == ids
    assert _leftovers(tmp_path, tmp_path / "data") == []


# -- not a file --


@pytest.mark.parametrize("command", ["run", "merge"])
def test_a_named_pipe_as_results_file_is_refused_in_one_line(tmp_path: Path, command: str) -> None:
    requests, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_requests(requests, 3)
    os.mkfifo(out)
    with FakeServer() as server:
        if command == "run":
            run = _batch(str(requests), "-o", str(out), *_flags(server))
        else:
            (tmp_path / "part.jsonl").write_text("")
            run = _batch("merge", str(requests), str(tmp_path / "part.jsonl"), "-o", str(out))
        try:
            code, _, err = finish(run, timeout=20)  # not a wait for a reader that never comes
        except subprocess.TimeoutExpired:
            pytest.fail("modelport batch hung on a named pipe")
        assert code == 2 and err.count("\n") == 1 and "named pipe" in err and "Traceback" not in err, err
        assert server.requests == []


# -- lines of other programs --

FOREIGN = [
    {"custom_id": "req-00001", "response": {"status_code": 200, "body": {}}, "error": None},  # no id
    {"id": "run_7", "custom_id": "req-00001", "response": {"status_code": 200}, "error": None},  # another prefix
    {"id": "batch_req_1", "custom_id": "req-00001", "status": "done"},  # another shape
    {"id": "batch_req_1", "custom_id": "req-00001", "response": "ok", "error": None},
    {"id": "batch_req_1", "custom_id": "req-00001", "response": None, "error": None},
    {"id": "batch_req_1", "custom_id": "req-00001", "response": {"status_code": 200}, "error": None, "note": 1},
]


@pytest.mark.parametrize("foreign", FOREIGN, ids=range(len(FOREIGN)))
def test_a_foreign_line_with_a_custom_id_of_the_input_is_not_taken_as_done(
    tmp_path: Path, foreign: dict[str, Any]
) -> None:
    requests, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_requests(requests, 3)
    content = json.dumps(foreign) + "\n"
    out.write_text(content)
    with pytest.raises(BatchFileError, match="not a result line"):
        read_finished(out, known={"req-00000", "req-00001", "req-00002"})
    with FakeServer() as server:
        code, _, err = finish(_batch(str(requests), "-o", str(out), *_flags(server)))
        assert code == 2 and "line 1: not a result line" in err and "It was left as it is" in err, err
        assert server.requests == []
    assert out.read_text() == content
