"""Property tests: the engine never raises, whatever the input; huge lines are capped."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.attribution import Analyzer, analyze_lines, combine
from resilience.attribution.lines import parse_line
from resilience.attribution.registry import KEYWORDS, MAX_MATCH_CHARS, match_content

# text biased towards the vocabulary the patterns look for, so partial matches are exercised
TOKENS = st.sampled_from([*KEYWORDS, "[rank3]:", "3: ", "Xid (PCI:0000:3b:00): ", "79", " ",
                          "\n", "\r", "Error: ", "CUDA out of memory", "Watchdog caught",
                          "Cycle: 2", "iteration 12", "Root Cause (first observed failure):",
                          "  rank      : 3", "\x00", "é", "\ud800",
                          "[E1021 08:14:07.512 f.cpp:1] "])
TEXT = st.lists(st.one_of(TOKENS, st.text(max_size=20)), max_size=60).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, max_size=30))
def test_feed_never_raises(lines: list[str]) -> None:
    a = Analyzer(batch_lines=4)
    for line in lines:
        a.feed(line)
    v = combine(a.digests(), cycle_id=0)
    assert v.schema_ == "resilience.verdict/1"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_feed_bytes_never_raises(chunks: list[bytes]) -> None:
    a = Analyzer()
    for chunk in chunks:
        a.feed_bytes(chunk)
    d = a.digest()
    assert d.lines >= 0


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([*KEYWORDS, "Xid ", "[rank1]:", "Error: ", "(", "'", "0x1f "]),
       st.integers(min_value=1000, max_value=30000))
def test_adversarial_long_lines_are_capped(token: str, repeat: int) -> None:
    line = token * repeat
    assert analyze_lines([line, line]).reason  # completes; regexes saw at most 4 KiB of each
    info = parse_line(line[:MAX_MATCH_CHARS])
    match_content(info.content)


def test_regexes_only_see_the_cap() -> None:
    # 100k chars of repeated near-matches: same outcome as its first MAX_MATCH_CHARS chars
    line = ("Watchdog caught collective " * 5000)[:100_000]
    assert len(line) > MAX_MATCH_CHARS
    capped = analyze_lines([line[:MAX_MATCH_CHARS]])
    assert analyze_lines([line]).model_dump() == capped.model_dump()
