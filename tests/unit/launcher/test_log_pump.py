"""The launcher's log pump with real worker processes: every line reaches the rank file, the
prefixed console and the hook, whole and in order, however the worker's writes cut it."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from resilience.agent.logs import _COALESCE, ConsoleSink, LogPump, coalesce_pause


def pump(tmp_path: Path, code: str, console_stderr: bool = True) -> tuple[
        bytes, bytes, bytes, list[tuple[bool, bytes]]]:
    """Run `code` as a worker through a LogPump; (file, console out, console err, hook calls)."""
    out, err = io.BytesIO(), io.BytesIO()
    calls: list[tuple[bool, bytes]] = []
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    p = LogPump(proc, 3, tmp_path / "rank3.log", ConsoleSink(out, err), True, console_stderr,
                lambda rank, is_err, data: calls.append((is_err, data)))
    p.start()
    assert proc.wait(timeout=60) == 0
    p.join(timeout=60)
    return (tmp_path / "rank3.log").read_bytes(), out.getvalue(), err.getvalue(), calls


def test_lines_written_together_get_a_prefix_each(tmp_path: Path) -> None:
    file, out, _, calls = pump(tmp_path, "import sys; sys.stdout.write('a\\nb\\nc\\n')")
    assert file == b"a\nb\nc\n"
    assert out == b"[rank3]:a\n[rank3]:b\n[rank3]:c\n"
    assert b"".join(d for is_err, d in calls if not is_err) == b"a\nb\nc\n"


def test_a_line_written_in_pieces_arrives_whole(tmp_path: Path) -> None:
    code = ("import sys, time\n"
            "for piece in ('step 1 ', 'loss 2.0', '\\nnext\\n'):\n"
            "    sys.stdout.write(piece); sys.stdout.flush(); time.sleep(0.05)\n")
    file, out, _, calls = pump(tmp_path, code)
    assert out == b"[rank3]:step 1 loss 2.0\n[rank3]:next\n"
    assert file == b"step 1 loss 2.0\nnext\n"
    assert all(d.endswith(b"\n") for _, d in calls)  # the hook never sees half a line


def test_stdout_and_stderr_lines_do_not_mix_in_the_file(tmp_path: Path) -> None:
    code = ("import sys, time\n"
            "for i in range(200):\n"
            "    sys.stdout.write('out-%d-' % i); sys.stdout.flush()\n"
            "    sys.stderr.write('err %d\\n' % i); sys.stderr.flush()\n"
            "    sys.stdout.write('end\\n'); sys.stdout.flush()\n")
    file, out, err, _ = pump(tmp_path, code)
    lines = file.decode().splitlines()
    assert sorted(lines) == sorted([f"out-{i}-end" for i in range(200)]
                                   + [f"err {i}" for i in range(200)])
    assert err == b"".join(b"[rank3]:err %d\n" % i for i in range(200))
    assert out == b"".join(b"[rank3]:out-%d-end\n" % i for i in range(200))


def test_unterminated_and_overlong_lines_are_kept(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write('x' * 200000 + '\\nlast words')"
    file, out, _, calls = pump(tmp_path, code)
    assert file == b"x" * 200000 + b"\nlast words"
    assert out == b"[rank3]:" + b"x" * 200000 + b"\n[rank3]:last words"
    assert b"".join(d for _, d in calls) == file


def test_console_filter_still_writes_the_file(tmp_path: Path) -> None:
    file, _, err, calls = pump(tmp_path, "import sys; sys.stderr.write('boom\\n')",
                               console_stderr=False)
    assert (file, err, calls) == (b"boom\n", b"", [(True, b"boom\n")])


def test_a_failing_hook_is_reported_and_the_output_keeps_flowing(tmp_path: Path) -> None:
    out, err = io.BytesIO(), io.BytesIO()

    def broken(rank: int, is_err: bool, data: bytes) -> None:
        raise RuntimeError("analysis bug")

    code = "for i in range(3000): print('line %d ' % i + 'x' * 1000)"  # > the 1 MiB pipe
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    p = LogPump(proc, 0, tmp_path / "rank0.log", ConsoleSink(out, err), True, True, broken)
    p.start()
    assert proc.wait(timeout=60) == 0  # it would block on a full pipe if the pump had died
    p.join(timeout=60)
    assert (tmp_path / "rank0.log").read_bytes().count(b"\n") == 3000
    assert err.getvalue().count(b"log analysis of rank 0 stopped") == 1


def test_a_full_disk_is_reported_and_the_console_goes_on() -> None:
    out, err = io.BytesIO(), io.BytesIO()
    proc = subprocess.Popen([sys.executable, "-c", "print('a'); print('b')"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # /dev/full: every write fails with ENOSPC, as on a full disk
    p = LogPump(proc, 0, Path("/dev/full"), ConsoleSink(out, err), True, True, None)
    p.start()
    assert proc.wait(timeout=60) == 0
    p.join(timeout=60)
    assert out.getvalue() == b"[rank0]:a\n[rank0]:b\n"
    assert err.getvalue().count(b"cannot write") == 1


def test_the_pump_pauses_less_for_a_writer_that_would_fill_its_pipe() -> None:
    size = 1 << 18
    assert coalesce_pause(500, 0.002, size) == _COALESCE  # a slow writer: let lines gather
    # 128 KiB in 1 ms: half the pipe fills in 1 ms, so the pump comes back then, not in 2 ms
    assert coalesce_pause(size // 2, 0.001, size) == pytest.approx(0.001)
    # a full pipe (the writer was blocked, its rate is higher than measured): the pause halves
    assert coalesce_pause(size, 0.002, size) == pytest.approx(0.001)
    assert coalesce_pause(size, 0.0001, size) == 0.0  # read again at once
