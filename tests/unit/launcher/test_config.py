"""ftrun's configuration: torchrun parity, CLI > env > YAML > default, one-line errors,
worker command lines and the worker environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resilience.agent.env import worker_env
from resilience.config import FaultToleranceConfig, LaunchConfig, build_parser, resolve
from resilience.config.parser import ft_dest, ft_leaves
from resilience.config.workers import RUN_PATH_BOOTSTRAP
from resilience.errors import ConfigError
from resilience.records import Assignment

FT_DESTS = {"ft_cfg_path", "ft_deprecated_endpoint", "ft_deprecated_backend"} | {
    ft_dest(dotted) for dotted, _ in ft_leaves()
}


@pytest.fixture(autouse=True)
def _no_pet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's parser reads PET_* from os.environ when it is built; start every test clean."""
    for name in list(os.environ):
        if name.startswith("PET_") or name in {"OMP_NUM_THREADS", "PYTHON_EXEC"}:
            monkeypatch.delenv(name)


def _torch_parse(argv: list[str]) -> dict[str, object]:
    from torch.distributed.run import get_args_parser

    return dict(vars(get_args_parser().parse_args(argv)))


def _ft_parse(argv: list[str]) -> dict[str, object]:
    return vars(build_parser().parse_args(argv))


def _resolve(argv: list[str], env: dict[str, str] | None = None) -> LaunchConfig:
    # --local-addr spares a getfqdn() per test (slow where DNS is slow)
    return resolve(build_parser().parse_args(["--local-addr=this-node", *argv]), env or {})


# -- torchrun parity ------------------------------------------------------------------------

PARITY = {
    "multi-node c10d, underscore aliases, torchrun flags after the script": [
        "--nnodes=2:4",
        "--nproc_per_node=8",
        "--rdzv-backend=c10d",
        "--rdzv_endpoint=node1:29400",
        "--rdzv_id=job42",
        "--rdzv_conf=join_timeout=5,last_call_timeout=1",
        "--max_restarts=3",
        "--monitor-interval=0.5",
        "--start_method=fork",
        "--role=trainer",
        "--log_dir=/tmp/logs",
        "-r",
        "3",
        "-t",
        "0:1",
        "--local_ranks_filter=0,1",
        "--signals_to_handle=SIGTERM,SIGUSR1",
        "--shutdown_timeout=10",
        "--local_addr=10.0.0.2",
        "train.py",
        "--lr",
        "0.1",
        "--nnodes",
        "7",
    ],
    "standalone module": ["--standalone", "--nproc-per-node", "2", "-m", "pkg.mod", "x"],
    "static legacy flags": [
        "--node_rank=1",
        "--master_addr=10.0.0.1",
        "--master_port=1234",
        "--no_python",
        "--virtual_local_rank",
        "--run_path",
        "--redirects=0:1,1:2",
        "--tee=3",
        "--event_log_handler=console",
        "--logs_specs=mine",
        "--duplicate_stdout_filters=a,b",
        "--duplicate-stderr-filters=c",
        "./bin",
    ],
    "defaults only": ["train.py"],
}


@pytest.mark.parametrize("argv", PARITY.values(), ids=PARITY.keys())
def test_torchrun_flags_parse_exactly_like_torchrun(argv: list[str]) -> None:
    ours, theirs = _ft_parse(argv), _torch_parse(argv)
    assert {k: ours[k] for k in theirs} == theirs
    assert set(ours) - set(theirs) == FT_DESTS
    assert all(ours[d] is None for d in FT_DESTS)


def test_pet_env_vars_are_read_like_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PET_NPROC_PER_NODE", "4")
    monkeypatch.setenv("PET_NNODES", "1:3")
    monkeypatch.setenv("PET_MAX_RESTARTS", "5")
    monkeypatch.setenv("PET_RDZV_ENDPOINT", "head:29400")
    monkeypatch.setenv("PET_STANDALONE", "1")
    for argv in (["train.py"], ["--nnodes=2", "--max-restarts=1", "train.py"]):
        ours, theirs = _ft_parse(argv), _torch_parse(argv)
        assert {k: ours[k] for k in theirs} == theirs
    env_only = _ft_parse(["train.py"])
    assert (env_only["nproc_per_node"], env_only["nnodes"], env_only["max_restarts"]) == (
        "4",
        "1:3",
        5,
    )
    assert env_only["standalone"] is True
    cli = _ft_parse(["--nnodes=2", "--max-restarts=1", "train.py"])
    assert (cli["nnodes"], cli["max_restarts"]) == ("2", 1)


def test_ft_flags_after_the_script_belong_to_the_script() -> None:
    ns = _ft_parse(["--standalone", "train.py", "--ft-no-restart-exit-code", "5"])
    assert ns["ft_no_restart_exit_code"] is None
    assert ns["training_script_args"] == ["--ft-no-restart-exit-code", "5"]


def test_parse_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--no-such-flag", "train.py"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("ftrun: error: unrecognized arguments: --no-such-flag")


# -- fault-tolerance precedence -------------------------------------------------------------


def _yaml(tmp_path: Path, text: str, name: str = "ft.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_no_restart_exit_code_default() -> None:
    assert _resolve(["--standalone", "t.py"]).ft.no_restart_exit_code == 93


def test_precedence_cli_over_env_over_yaml_over_default(tmp_path: Path) -> None:
    cfg = _yaml(tmp_path, "fault_tolerance:\n  no_restart_exit_code: 50\n")
    env = {"PET_FT_NO_RESTART_EXIT_CODE": "60"}
    base = ["--standalone", f"--ft-cfg-path={cfg}"]
    assert _resolve([*base, "t.py"]).ft.no_restart_exit_code == 50
    assert _resolve([*base, "t.py"], env).ft.no_restart_exit_code == 60
    for flag in (["--ft-no-restart-exit-code=70"], ["--ft_no_restart_exit_code", "70"]):
        assert _resolve([*base, *flag, "t.py"], env).ft.no_restart_exit_code == 70


def test_yaml_path_from_env_and_cli_path_wins(tmp_path: Path) -> None:
    by_env = _yaml(tmp_path, "fault_tolerance:\n  no_restart_exit_code: 40\n", "env.yaml")
    by_cli = _yaml(tmp_path, "fault_tolerance:\n  no-restart-exit-code: 41\n", "cli.yaml")
    env = {"PET_FT_CFG_PATH": by_env}
    assert _resolve(["--standalone", "t.py"], env).ft.no_restart_exit_code == 40
    argv = ["--standalone", f"--ft-cfg-path={by_cli}", "t.py"]
    assert _resolve(argv, env).ft.no_restart_exit_code == 41


def test_empty_block_gives_defaults(tmp_path: Path) -> None:
    cfg = _yaml(tmp_path, "fault_tolerance:\nother_tool: {x: 1}\n")
    assert _resolve(["--standalone", f"--ft-cfg-path={cfg}", "t.py"]).ft == (
        FaultToleranceConfig.model_validate({})
    )


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, 30.0),
        ([], {"TORCH_ELASTIC_SHUTDOWN_TIMEOUT": "9"}, 9.0),
        (["--shutdown-timeout=7"], {"TORCH_ELASTIC_SHUTDOWN_TIMEOUT": "9"}, 7.0),
        (["--shutdown-timeout=7", "--ft-workers-stop-timeout=2.5"], {}, 2.5),
    ],
)
def test_stop_timeout_sources(argv: list[str], env: dict[str, str], expected: float) -> None:
    assert _resolve(["--standalone", *argv, "t.py"], env).stop_timeout == expected


# -- errors ---------------------------------------------------------------------------------

C10D = ["--nnodes=2", "--rdzv-backend=c10d", "--rdzv-endpoint=head:29400"]

ERRORS: dict[str, tuple[list[str], str | None, tuple[str, ...]]] = {
    # name: (argv before the script, YAML text or None, substrings of the message)
    "unknown YAML key": (
        [],
        "fault_tolerance:\n  no_restart_exit_code: 50\n  bogus_key: 1\n",
        ("'bogus_key'", "fault_tolerance.bogus_key", "valid fault_tolerance keys"),
    ),
    "wrong type in YAML": (
        [],
        "fault_tolerance:\n  no_restart_exit_code: abc\n",
        (
            "no_restart_exit_code='abc'",
            "fault_tolerance.no_restart_exit_code",
            "valid integer",
            "fix the value",
        ),
    ),
    "out of range in YAML": (
        [],
        "fault_tolerance:\n  no_restart_exit_code: 200\n",
        ("no_restart_exit_code=200", "less than or equal to 125"),
    ),
    "no block in the file": (
        [],
        "something_else:\n  a: 1\n",
        ("no 'fault_tolerance:' block", "top-level 'fault_tolerance:' key"),
    ),
    "empty file": ([], "", ("no 'fault_tolerance:' block",)),
    "block is not a mapping": ([], "fault_tolerance: [1, 2]\n", ("must be a mapping", "list")),
    "invalid YAML": ([], "fault_tolerance:\n  a: [1, 2\n", ("not valid YAML", "fix the syntax")),
    "bad flag value": (
        ["--ft-no-restart-exit-code=abc"],
        None,
        ("no_restart_exit_code='abc'", "--ft-no-restart-exit-code", "valid integer"),
    ),
    "bad --rdzv-conf key": (
        [*C10D, "--rdzv-conf=join_timeout=5,bogus=1"],
        None,
        ("--rdzv-conf key 'bogus' is unknown", "valid keys:", "join_timeout"),
    ),
    "bad --rdzv-conf item": (
        [*C10D, "--rdzv-conf=join_timeout"],
        None,
        ("'join_timeout' is not KEY=VALUE", "--rdzv-conf join_timeout=600"),
    ),
    "bad --rdzv-conf value": (
        [*C10D, "--rdzv-conf=is_host=0,join_timeout=-1"],
        None,
        ("--rdzv-conf 'is_host=0,join_timeout=-1'", "join_timeout", "greater than 0"),
    ),
    "--nnodes not a number": (
        ["--nnodes=two", "--rdzv-backend=c10d", "--rdzv-endpoint=h:1"],
        None,
        ("--nnodes 'two'", "MIN:MAX"),
    ),
    "--nnodes min above max": (
        ["--nnodes=4:2", "--rdzv-backend=c10d", "--rdzv-endpoint=h:1"],
        None,
        ("--nnodes '4:2'", "0 < MIN <= MAX"),
    ),
    "--nnodes zero": (
        ["--nnodes=0", "--rdzv-backend=c10d", "--rdzv-endpoint=h:1"],
        None,
        ("--nnodes '0'",),
    ),
    "etcd backend": (
        ["--nnodes=2", "--rdzv-backend=etcd", "--rdzv-endpoint=h:2379"],
        None,
        ("--rdzv-backend 'etcd' is not supported", "use c10d"),
    ),
    "c10d without endpoint": (
        ["--nnodes=2", "--rdzv-backend=c10d"],
        None,
        ("needs --rdzv-endpoint HOST:PORT", "--standalone"),
    ),
    "bad endpoint port": (
        ["--nnodes=2", "--rdzv-backend=c10d", "--rdzv-endpoint=h:port"],
        None,
        ("--rdzv-endpoint 'h:port' has a bad port", "HOST:PORT"),
    ),
    "--redirects garbage": (
        ["--standalone", "--redirects=loud"],
        None,
        ("--redirects 'loud' is invalid", "0-3", "0:1,1:2"),
    ),
    "--redirects value out of range": (
        ["--standalone", "--redirects=0:7"],
        None,
        ("--redirects '0:7' is invalid",),
    ),
    "--tee garbage": (["--standalone", "--tee=x"], None, ("--tee 'x' is invalid",)),
    "--local-ranks-filter garbage": (
        ["--standalone", "--local-ranks-filter=0,one"],
        None,
        ("--local-ranks-filter '0,one'", "comma-separated integers"),
    ),
    "--no-python with -m": (
        ["--standalone", "--no-python", "-m"],
        None,
        ("--no-python", "--module", "pick one"),
    ),
    "negative --max-restarts": (
        ["--standalone", "--max-restarts=-1"],
        None,
        ("--max-restarts -1 must be >= 0",),
    ),
    "uncatchable signal": (
        ["--standalone", "--signals-to-handle=SIGTERM,SIGKILL"],
        None,
        ("'SIGKILL' is not a catchable signal name",),
    ),
    "unsupported torchrun flag": (
        ["--standalone", "--logs-specs=mine"],
        None,
        ("--logs-specs", "does not support"),
    ),
}


@pytest.mark.parametrize(("argv", "yaml_text", "needles"), ERRORS.values(), ids=ERRORS.keys())
def test_config_errors_are_one_line_and_name_the_problem(
    tmp_path: Path, argv: list[str], yaml_text: str | None, needles: tuple[str, ...]
) -> None:
    if yaml_text is not None:
        argv = ["--standalone", f"--ft-cfg-path={_yaml(tmp_path, yaml_text)}", *argv]
    with pytest.raises(ConfigError) as exc:
        _resolve([*argv, "t.py"])
    message = str(exc.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize("name", ["SIG_DFL", "SIG_IGN", "SIG_BLOCK", "SIG_SETMASK"])
def test_signals_to_handle_rejects_names_that_are_not_signals(name: str) -> None:
    with pytest.raises(ConfigError, match="is not a catchable signal name"):
        _resolve(["--standalone", f"--signals-to-handle=SIGTERM,{name}", "t.py"])


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as exc:
        _resolve(["--standalone", "t.py"], {"PET_FT_NO_RESTART_EXIT_CODE": "lots"})
    assert "env PET_FT_NO_RESTART_EXIT_CODE" in str(exc.value)
    assert "no_restart_exit_code='lots'" in str(exc.value)


def test_missing_yaml_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as exc:
        _resolve(["--standalone", f"--ft-cfg-path={missing}", "t.py"])
    assert str(exc.value) == (
        f"cannot read --ft-cfg-path {str(missing)!r}: No such file or directory; "
        "pass an existing YAML file"
    )


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    cfg = _yaml(tmp_path, "fault_tolerance:\n  a: 1\n  b: [1, 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+") as exc:
        _resolve(["--standalone", f"--ft-cfg-path={cfg}", "t.py"])
    assert str(exc.value).startswith(cfg)


# -- rendezvous settings --------------------------------------------------------------------


def test_standalone() -> None:
    a, b = _resolve(["--standalone", "t.py"]).rdzv, _resolve(["--standalone", "t.py"]).rdzv
    assert (a.backend, a.is_host, a.endpoint_port, a.min_nodes, a.max_nodes) == (
        "c10d",
        True,
        0,
        1,
        1,
    )
    assert a.run_id != b.run_id  # a fresh run id each launch, as torchrun


def test_c10d_endpoint_nnodes_and_rdzv_conf() -> None:
    rdzv = _resolve(
        [
            "--nnodes=2:4",
            "--rdzv-backend=c10d",
            "--rdzv-endpoint=head",
            "--rdzv-id=job",
            "--rdzv-conf=join_timeout=12,last_call_timeout=0,is_host=0",
            "t.py",
        ]
    ).rdzv
    assert (rdzv.endpoint_host, rdzv.endpoint_port, rdzv.run_id) == ("head", 29400, "job")
    assert (rdzv.min_nodes, rdzv.max_nodes) == (2, 4)
    assert (rdzv.join_timeout, rdzv.last_call_timeout, rdzv.is_host) == (12.0, 0.0, False)


def test_ipv6_endpoint() -> None:
    argv = ["--nnodes=2", "--rdzv-backend=c10d", "--rdzv-endpoint=[::1]:29411", "t.py"]
    rdzv = _resolve(argv).rdzv
    assert (rdzv.endpoint_host, rdzv.endpoint_port) == ("::1", 29411)


def test_static_backend_uses_master_addr_and_node_rank() -> None:
    rdzv = _resolve(["--nnodes=2", "--node_rank=1", "--master_addr=10.1.1.1", "t.py"]).rdzv
    assert (rdzv.backend, rdzv.endpoint_host, rdzv.endpoint_port) == ("static", "10.1.1.1", 29500)
    assert (rdzv.node_rank, rdzv.is_host) == (1, False)
    leader = _resolve(["--nnodes=2", "--master-port=1234", "t.py"]).rdzv
    assert (leader.endpoint_port, leader.node_rank, leader.is_host) == (1234, 0, True)


# -- worker command line --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ([], {}, (sys.executable, "-u", "train.py", "--lr", "1")),
        ([], {"PYTHON_EXEC": "/opt/py"}, ("/opt/py", "-u", "train.py", "--lr", "1")),
        (["-m"], {}, (sys.executable, "-u", "-m", "train.py", "--lr", "1")),
        (["--module"], {}, (sys.executable, "-u", "-m", "train.py", "--lr", "1")),
        (["--no-python"], {}, ("train.py", "--lr", "1")),
        (
            ["--run-path"],
            {},
            (sys.executable, "-u", "-c", RUN_PATH_BOOTSTRAP, "train.py", "--lr", "1"),
        ),
        (
            ["--run-path", "--no-python"],  # torchrun: --run-path takes precedence
            {},
            (sys.executable, "-u", "-c", RUN_PATH_BOOTSTRAP, "train.py", "--lr", "1"),
        ),
    ],
)
def test_worker_argv(flags: list[str], env: dict[str, str], expected: tuple[str, ...]) -> None:
    argv = _resolve(["--standalone", *flags, "train.py", "--lr", "1"], env).workers.argv
    assert argv == expected


def test_run_path_bootstrap_runs_the_script_as_main_with_its_argv(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("import sys\nprint(__name__, sys.argv)\n")
    argv = _resolve(["--standalone", "--run-path", str(script), "a", "--b"]).workers.argv
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.strip() == f"__main__ {[str(script), 'a', '--b']}"


# -- worker environment ---------------------------------------------------------------------

TORCHRUN_VARS = {
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "GROUP_WORLD_SIZE",
    "ROLE_NAME",
    "ROLE_RANK",
    "ROLE_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RESTART_COUNT",
    "TORCHELASTIC_MAX_RESTARTS",
    "TORCHELASTIC_RUN_ID",
    "TORCHELASTIC_ERROR_FILE",
    "TORCHELASTIC_USE_AGENT_STORE",
    "TORCHELASTIC_SIGNALS_TO_HANDLE",
    "TORCH_NCCL_ASYNC_ERROR_HANDLING",
}

NODE_1_OF_2 = Assignment(
    cycle_id=2,
    group_rank=1,
    group_world_size=2,
    rank_offset=4,
    world_size=8,
    master_addr="10.0.0.1",
    master_port=41000,
    restart_count=2,
)

MULTI_NODE = [
    "--nnodes=2",
    "--nproc-per-node=4",
    "--rdzv-backend=c10d",
    "--rdzv-endpoint=10.0.0.1:29400",
    "--rdzv-id=job7",
    "--rdzv-conf=is_host=0",
    "--max-restarts=5",
    "--role=trainer",
    "train.py",
]


def test_worker_env_has_exactly_torchruns_variables(tmp_path: Path) -> None:
    cfg = _resolve(MULTI_NODE, {})
    base = {"PATH": "/usr/bin", "HOME": "/home/u"}
    err = tmp_path / "rank_7.error.json"
    env = worker_env(base, cfg, NODE_1_OF_2, 3, err)
    assert set(env) - set(base) == TORCHRUN_VARS | {"OMP_NUM_THREADS", "RESILIENCE_CYCLE_ID"}
    assert {k: env[k] for k in base} == base
    assert {k: v for k, v in env.items() if k not in base} == {
        "RANK": "7",
        "LOCAL_RANK": "3",
        "WORLD_SIZE": "8",
        "LOCAL_WORLD_SIZE": "4",
        "GROUP_RANK": "1",
        "GROUP_WORLD_SIZE": "2",
        "ROLE_NAME": "trainer",
        "ROLE_RANK": "7",
        "ROLE_WORLD_SIZE": "8",
        "MASTER_ADDR": "10.0.0.1",
        "MASTER_PORT": "41000",
        "TORCHELASTIC_RESTART_COUNT": "2",
        "TORCHELASTIC_MAX_RESTARTS": "5",
        "TORCHELASTIC_RUN_ID": "job7",
        "TORCHELASTIC_ERROR_FILE": str(err),
        "TORCHELASTIC_USE_AGENT_STORE": "True",
        "TORCHELASTIC_SIGNALS_TO_HANDLE": "SIGTERM,SIGINT,SIGHUP,SIGQUIT",
        "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1",
        "OMP_NUM_THREADS": "1",
        "RESILIENCE_CYCLE_ID": "2",
    }


def test_worker_env_keeps_user_settings() -> None:
    user = {"OMP_NUM_THREADS": "6", "TORCH_NCCL_ASYNC_ERROR_HANDLING": "0"}
    cfg = _resolve(MULTI_NODE, user)
    env = worker_env(user, cfg, NODE_1_OF_2, 0, Path("/e"))
    assert (env["OMP_NUM_THREADS"], env["TORCH_NCCL_ASYNC_ERROR_HANDLING"]) == ("6", "0")


def test_single_process_gets_no_omp_override() -> None:
    cfg = _resolve(["--standalone", "t.py"], {})
    a = NODE_1_OF_2.model_copy(update={"group_rank": 0, "rank_offset": 0, "world_size": 1})
    env = worker_env({}, cfg, a, 0, Path("/e"))
    assert "OMP_NUM_THREADS" not in env
    assert set(env) == TORCHRUN_VARS | {"RESILIENCE_CYCLE_ID"}


def test_virtual_local_rank_maps_through_cuda_visible_devices() -> None:
    cfg = _resolve(["--virtual-local-rank", *MULTI_NODE], {})
    env = worker_env({"CUDA_VISIBLE_DEVICES": "4,5,6,7"}, cfg, NODE_1_OF_2, 2, Path("/e"))
    assert (env["LOCAL_RANK"], env["CUDA_VISIBLE_DEVICES"], env["RANK"]) == ("0", "6", "6")
