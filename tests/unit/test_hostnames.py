"""Which names are one node (`resilience.hostnames`): exclusion and culprit scoring use it."""

from __future__ import annotations

import pytest

from resilience.hostnames import same_host, short_name


@pytest.mark.parametrize(("a", "b", "same"), [
    ("gpu-07", "gpu-07.cluster.local", True),
    ("GPU-07.Cluster.local.", "gpu-07.cluster", True),
    ("gpu-07.a.net", "gpu-07.b.net", False),
    ("gpu-07", "gpu-070", False),
    ("10.0.0.7", "10.0.0.7", True),
    ("10.0.0.7", "10.0.0.70", False),
    ("10.0.0.7.nip.io", "10.0.0.8.nip.io", False),
    ("fe80::1", "FE80::1", True),
    ("::1", "0:0:0:0:0:0:0:1", True),
    ("", "", False),
    (".a", ".b", False),
    # an AWS private DNS name spells its IP
    ("ip-10-0-44-17", "10.0.44.17", True),
    ("ip-10-0-44-17.us-west-2.compute.internal", "10.0.44.17", True),
    ("ip-10-0-44-17", "10.0.44.18", False),
    ("ip-10-0-44-17-x", "10.0.44.17", False),
    ("gpu-07", "10.0.0.7", False),
    ("ip-300-0-0-1", "10.0.0.1", False),
    ("ip-10-0-0-1", "::1", False),
])
def test_same_host(a: str, b: str, same: bool) -> None:
    assert same_host(a, b) is same
    assert same_host(b, a) is same


def test_short_name_keeps_ips_and_numeric_labels() -> None:
    assert short_name("jwb0417.juwels") == "jwb0417"
    assert short_name("10.0.0.7") == "10.0.0.7"
    assert short_name("10.0.0.7.nip.io") == "10.0.0.7.nip.io"
