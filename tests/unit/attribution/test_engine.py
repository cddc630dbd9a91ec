from __future__ import annotations

from pathlib import Path

import pytest

from resilience.attribution import (
    Action,
    Analyzer,
    Category,
    NodeDigest,
    analyze_file,
    analyze_lines,
    analyze_path,
    combine,
    cycle_marker,
    read_digests,
)
from resilience.errors import AttributionError, LogReadError

from .conftest import CORPUS, corpus_labels

LABELS = corpus_labels()


@pytest.mark.parametrize("name", sorted(LABELS))
def test_corpus_label(name: str) -> None:
    label = LABELS[name]
    v = analyze_path(CORPUS / "logs" / name)
    assert (v.action.value, v.category.value) == (label["action"], label["category"]), v.reason
    if "culprit_ranks" in label:
        assert sorted(v.culprit_ranks) == sorted(label["culprit_ranks"]), v.reason  # type: ignore[arg-type]
    if "culprit_nodes" in label:
        assert sorted(v.culprit_nodes) == sorted(label["culprit_nodes"]), v.reason  # type: ignore[arg-type]
    text = (CORPUS / "logs" / name).read_text(encoding="utf-8").splitlines()
    for ev in v.evidence:  # evidence is verbatim, at the line it claims
        assert ev.line is not None and text[ev.line - 1] == ev.text
    assert v.reason


def test_corpus_covers_every_category() -> None:
    assert {lab["category"] for lab in LABELS.values()} == {c.value for c in Category}
    assert len(LABELS) >= 40


OOM = "[rank3]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
WATCHDOG = ("[rank{r}]:[E1021 08:{m}:07.512 ProcessGroupNCCL.cpp:616] [Rank {r}] Watchdog caught "
            "collective operation timeout: WorkNCCL(SeqNum=9) ran for 600017 milliseconds before "
            "timing out.")


def test_red_herring_root_is_the_oom_rank_not_the_timeouts() -> None:
    lines = [WATCHDOG.format(r=r, m=45) for r in (0, 1, 2)] + [OOM]
    v = analyze_lines(lines)
    assert (v.action, v.category, v.culprit_ranks) == (Action.STOP, Category.CUDA_OOM, (3,))
    assert "consequences" in v.reason and "rank 3" in v.reason
    assert v.fingerprint == "cuda_oom:torch.OutOfMemoryError:cuda out of memory"


def test_only_timeouts_is_a_hang_without_culprits() -> None:
    v = analyze_lines([WATCHDOG.format(r=r, m=45) for r in range(4)])
    assert (v.action, v.category, v.culprit_ranks) == (Action.RESTART, Category.HANG, ())


def test_stale_error_followed_by_progress_is_not_the_root() -> None:
    lines = ["[rank0]: KeyError: 'old'"] + [f"iteration {i}/100" for i in range(1, 4)]
    lines.append(WATCHDOG.format(r=1, m=50))
    v = analyze_lines(lines)
    assert v.category is Category.HANG
    fresh = analyze_lines(["iteration 1/100", "[rank0]: KeyError: 'new'"])
    assert fresh.category is Category.USER_CODE


def test_combine_across_nodes_uses_timestamps_and_node_map() -> None:
    a, b = Analyzer(node="node-a"), Analyzer(node="node-b")
    a.feed("[rank1]:[E1021 08:30:00.000 x.cpp:1] ValueError: late on node a")
    b.feed("[rank9]:[E1021 08:20:00.000 x.cpp:1] ValueError: early on node b")
    b.feed(WATCHDOG.format(r=10, m=31))
    digests = [a.digest(), b.digest()]
    v = combine(digests, cycle_id=4)
    assert (v.cycle_id, v.culprit_ranks, v.culprit_nodes) == (4, (9,), ("node-b",))
    mapped = combine([Analyzer().digest(), digests[0]], 4, node_of_rank={1: "gpu-17"})
    assert mapped.culprit_nodes == ("gpu-17",)


def test_digest_is_json_round_trippable_and_bounded() -> None:
    a = Analyzer(rank=2, max_candidates=5)
    for r in range(50):
        a.feed(WATCHDOG.format(r=r, m=40))
    d = a.digest()
    assert len(d.candidates) == 5 and d.dropped == 45
    data = d.to_json()
    assert '"schema":"resilience.digest/1"' in data
    assert NodeDigest.model_validate_json(data) == d


def test_a_digest_with_a_launcher_record_of_a_newer_version_is_read() -> None:
    """A record of a launcher this version does not know is ignored, not the whole digest."""
    a = Analyzer()
    a.feed("RuntimeError: CUDA error: uncorrectable ECC error encountered")
    a.feed("  Process name: [[41827,1],5]")
    known = a.digest()
    assert combine([known], 0).culprit_ranks == (5,)  # mpirun's record names the rank
    data = known.to_json().replace('"source":"mpirun"', '"source":"some_launcher_v2"')
    d = NodeDigest.model_validate_json(data)
    assert [e.source for e in d.elastic_roots] == ["some_launcher_v2"]
    v = combine([d], 0)
    assert (v.category, v.culprit_ranks) == (Category.GPU_HARDWARE, ())


def test_default_rank_for_unprefixed_per_rank_files(tmp_path: Path) -> None:
    run = tmp_path / "run1"
    for c in (0, 1):
        (run / f"cycle_{c}").mkdir(parents=True)
        (run / f"cycle_{c}" / "rank_0.log").write_text("iteration 5/10\nstill fine\n")
        (run / f"cycle_{c}" / "rank_3.log").write_text(
            "Traceback (most recent call last):\n" + OOM.removeprefix("[rank3]: ") + "\n")
    v = analyze_path(run)
    assert (v.cycle_id, v.category, v.culprit_ranks) == (1, Category.CUDA_OOM, (3,))
    assert analyze_path(run, cycle=0).cycle_id == 0
    single = analyze_file(run / "cycle_1" / "rank_3.log")
    assert (single.cycle_id, single.culprit_ranks) == (1, (3,))


def test_feed_feed_bytes_and_file_agree(tmp_path: Path) -> None:
    text = (CORPUS / "logs" / "oom_red_herring_watchdog.log").read_text(encoding="utf-8")
    by_line, by_bytes = Analyzer(batch_lines=7), Analyzer()
    for line in text.splitlines(keepends=True):
        by_line.feed(line)
    raw = text.encode()
    for i in range(0, len(raw), 333):  # chunks split lines and multi-byte characters
        by_bytes.feed_bytes(raw[i:i + 333])
    from_file = read_digests(CORPUS / "logs" / "oom_red_herring_watchdog.log")[-1]
    assert by_line.digest() == by_bytes.digest() == from_file


def test_cycle_markers_split_and_select() -> None:
    lines = [cycle_marker(0), "[rank1]: KeyError: 'x'", "Cycle: 1", "iteration 3/9",
             WATCHDOG.format(r=0, m=1)]
    assert analyze_lines(lines).category is Category.HANG
    first = analyze_lines(lines, cycle=0)
    assert (first.cycle_id, first.category) == (0, Category.USER_CODE)
    with pytest.raises(AttributionError, match="cycle 7 not found; cycles present: 0, 1"):
        analyze_lines(lines, cycle=7)


def test_tail_window_reads_only_the_end(tmp_path: Path) -> None:
    f = tmp_path / "big.log"
    f.write_text("[rank0]: KeyError: 'early'\n" + "filler line\n" * 5000 + OOM + "\n")
    whole = analyze_file(f, tail_bytes=None)
    tail = analyze_file(f, tail_bytes=4096)
    assert whole.category is Category.USER_CODE  # earliest initiating error in the whole file
    assert tail.category is Category.CUDA_OOM and "tail window" in tail.reason


def test_unreadable_file_raises_log_read_error(tmp_path: Path) -> None:
    with pytest.raises(LogReadError, match="cannot read log"):
        analyze_file(tmp_path / "missing.log")


def test_illegal_access_on_one_rank_is_not_proven_code() -> None:
    base = "RuntimeError: CUDA error: an illegal memory access was encountered"
    one = analyze_lines([f"[rank2]: {base}", WATCHDOG.format(r=0, m=2)])
    every = analyze_lines([f"[rank{r}]: {base}" for r in range(3)])
    assert (one.action, one.category) == (Action.RESTART, Category.UNKNOWN)
    assert (every.action, every.category) == (Action.STOP, Category.USER_CODE)


def test_numerical_after_checkpoint_in_later_cycle_restarts() -> None:
    lines = ["Cycle: 2", "successfully saved checkpoint at iteration 900", "Loss is nan, stopping"]
    v = analyze_lines(lines)
    assert (v.category, v.action) == (Category.NUMERICAL, Action.RESTART)
    assert analyze_lines(lines[2:]).action is Action.STOP
