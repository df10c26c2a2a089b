"""Settings: flags, environment, and the memory budget from cgroup files."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.admission import download_cost, plan_slots
from server.config import detect_budget, load_config, parse_size


def test_parse_size():
    assert parse_size("2GiB") == 2 << 30
    assert parse_size("512MiB") == 512 << 20
    assert parse_size("64k") == 64000
    assert parse_size("65536") == 65536
    with pytest.raises(ValueError):
        parse_size("lots")


def test_budget_from_cgroup_v2(tmp_path: Path):
    v2 = tmp_path / "memory.max"
    v2.write_text("536870912\n")
    budget, source = detect_budget(cgroup_v2=str(v2), cgroup_v1="/nonexistent", physical=8 << 30)
    assert budget == 512 << 20
    assert "cgroup v2" in source


def test_budget_from_cgroup_v1_when_v2_unlimited(tmp_path: Path):
    v2 = tmp_path / "memory.max"
    v2.write_text("max\n")
    v1 = tmp_path / "memory.limit_in_bytes"
    v1.write_text(str(768 << 20))
    budget, source = detect_budget(cgroup_v2=str(v2), cgroup_v1=str(v1), physical=8 << 30)
    assert (budget, source.split()[0:2]) == (768 << 20, ["cgroup", "v1"])


def test_budget_default_and_ram(tmp_path: Path):
    assert detect_budget(cgroup_v2="/no", cgroup_v1="/no", physical=8 << 30) == (
        2 << 30,
        "default 2 GiB",
    )
    assert detect_budget(cgroup_v2="/no", cgroup_v1="/no", physical=1 << 30)[0] == 1 << 30


def test_flag_wins_over_env_and_cgroup(tmp_path: Path):
    v2 = tmp_path / "memory.max"
    v2.write_text(str(256 << 20))
    cfg = load_config(["--memory-budget", "1GiB"], env={}, cgroup_v2=str(v2))
    assert (cfg.memory_budget, cfg.budget_source) == (1 << 30, "--memory-budget")
    cfg = load_config([], env={"PLANSTREAM_MEMORY_BUDGET": "300MiB"}, cgroup_v2=str(v2))
    assert (cfg.memory_budget, cfg.budget_source) == (300 << 20, "PLANSTREAM_MEMORY_BUDGET")
    cfg = load_config([], env={}, cgroup_v2=str(v2))
    assert cfg.memory_budget == 256 << 20 and "cgroup v2" in cfg.budget_source


def test_bad_flag_names_the_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        load_config(["--stall-timeout", "soon"], env={})
    assert exc.value.code == 2
    assert "--stall-timeout" in capsys.readouterr().err


def test_slots_from_budget_and_descriptors():
    cost = download_cost(64 << 10, 64 << 10)
    plan = plan_slots(2 << 30, 192 << 20, cost, nofile=1 << 20)
    assert plan.slots == ((2 << 30) - (192 << 20)) // cost
    few_fds = plan_slots(2 << 30, 192 << 20, cost, nofile=1024)
    assert few_fds.slots == (1024 - 64) // 3 < plan.slots
