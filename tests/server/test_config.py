"""Settings: flags, environment, and the memory budget from cgroup files."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.admission import CostModel, plan_budget
from server.config import detect_budget, load_config, parse_size


def test_parse_size():
    assert parse_size("2GiB") == 2 << 30
    assert parse_size("512MiB") == 512 << 20
    assert parse_size("64k") == 64000
    assert parse_size("65536") == 65536
    with pytest.raises(ValueError):
        parse_size("lots")


def fake_cgroups(tmp_path: Path, *, v1: str | None = None, v2: str | None = None):
    """A fake /proc/self/cgroup + mountinfo whose hierarchies are folders under tmp_path."""
    lines, mounts = [], []
    if v1 is not None:
        lines.append(f"4:memory:{v1}")
        mounts.append(f"35 31 0:32 / {tmp_path}/v1 rw,relatime - cgroup cgroup rw,memory")
        (tmp_path / "v1" / v1.lstrip("/")).mkdir(parents=True, exist_ok=True)
    if v2 is not None:
        lines.append(f"0::{v2}")
        mounts.append(f"36 31 0:33 / {tmp_path}/v2 rw,relatime - cgroup2 cgroup2 rw")
        (tmp_path / "v2" / v2.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (tmp_path / "cgroup").write_text("\n".join(lines) + "\n")
    (tmp_path / "mountinfo").write_text("\n".join(mounts) + "\n")
    return {"proc_cgroup": str(tmp_path / "cgroup"), "mountinfo": str(tmp_path / "mountinfo")}


def test_budget_from_own_v1_child_group_not_the_root(tmp_path: Path):
    """The case that was missed: a 256 MiB child group under an unlimited root."""
    where = fake_cgroups(tmp_path, v1="/docker/abc/child")
    (tmp_path / "v1" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (tmp_path / "v1/docker/abc/child/memory.limit_in_bytes").write_text(str(256 << 20))
    budget, source = detect_budget(**where, physical=8 << 30)
    assert budget == 256 << 20
    assert source == f"cgroup v1 {tmp_path}/v1/docker/abc/child/memory.limit_in_bytes"


def test_budget_walks_up_to_a_smaller_parent(tmp_path: Path):
    where = fake_cgroups(tmp_path, v1="/a/b")
    (tmp_path / "v1/a/memory.limit_in_bytes").write_text(str(300 << 20))
    (tmp_path / "v1/a/b/memory.limit_in_bytes").write_text(str(600 << 20))
    assert detect_budget(**where, physical=8 << 30)[0] == 300 << 20


def test_budget_from_v2_max_and_high(tmp_path: Path):
    where = fake_cgroups(tmp_path, v2="/system.slice/planstream.service")
    group = tmp_path / "v2/system.slice/planstream.service"
    (group / "memory.max").write_text(str(512 << 20))
    (group / "memory.high").write_text("max\n")
    budget, source = detect_budget(**where, physical=8 << 30)
    assert (budget, source) == (512 << 20, f"cgroup v2 {group}/memory.max")
    (group / "memory.high").write_text(str(400 << 20))
    assert detect_budget(**where, physical=8 << 30)[0] == 400 << 20


def test_budget_default_and_ram(tmp_path: Path):
    where = fake_cgroups(tmp_path)
    assert detect_budget(**where, physical=8 << 30) == (2 << 30, "default 2 GiB")
    assert detect_budget(**where, physical=1 << 30) == (1 << 30, "physical RAM")
    assert detect_budget(proc_cgroup="/no", mountinfo="/no", physical=8 << 30)[0] == 2 << 30


def test_flag_wins_over_env_and_cgroup(tmp_path: Path):
    where = fake_cgroups(tmp_path, v2="/")
    (tmp_path / "v2" / "memory.max").write_text(str(256 << 20))
    cfg = load_config(["--memory-budget", "1GiB"], env={}, **where)
    assert (cfg.memory_budget, cfg.budget_source) == (1 << 30, "--memory-budget")
    cfg = load_config([], env={"PLANSTREAM_MEMORY_BUDGET": "300MiB"}, **where)
    assert (cfg.memory_budget, cfg.budget_source) == (300 << 20, "PLANSTREAM_MEMORY_BUDGET")
    cfg = load_config([], env={}, **where)
    assert cfg.memory_budget == 256 << 20 and "cgroup v2" in cfg.budget_source


def test_secrets_from_flag_env_and_file(tmp_path: Path, capsys):
    new, old = "n" * 20, "o" * 20
    assert load_config(["--secret", f"{new},{old}"], env={}).secrets == (new, old)
    assert load_config([], env={"PLANSTREAM_SECRETS": f"{new}, {old}"}).secrets == (new, old)
    assert load_config([], env={"PLANSTREAM_SECRET": new}).secrets == (new,)
    f = tmp_path / "secrets"
    f.write_text(f"{new}\n{old}\n")
    assert load_config(["--secret-file", str(f)], env={}).secrets == (new, old)
    assert load_config([], env={}).secrets == ()
    for argv in (["--secret", "short"], ["--secret-file", str(tmp_path / "none")]):
        with pytest.raises(SystemExit) as exc:
            load_config(argv, env={})
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "at least 16 bytes" in err and "cannot read" in err


def test_bad_flag_names_the_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        load_config(["--stall-timeout", "soon"], env={})
    assert exc.value.code == 2
    assert "--stall-timeout" in capsys.readouterr().err


def test_budget_plan_is_itemised_and_adds_up():
    plan = plan_budget(2 << 30, 208 << 20, nofile=1 << 20)
    assert plan.reserve + plan.fast_pool + plan.downloads == 2 << 30
    assert plan.cost == CostModel().download(16 << 10)
    assert plan.slots == plan.by_memory == plan.downloads // plan.cost
    assert plan.slots >= 10_000  # the goal: ten thousand downloads in 2 GiB
    assert plan.binding == "memory"


def test_descriptors_bind_below_the_nofile_limit():
    plan = plan_budget(2 << 30, 208 << 20, nofile=16_384)
    assert plan.binding == "descriptors"
    grown = plan.fast_pool // CostModel().fast_extra  # one duplicate each (server.express)
    assert plan.connections == 16_384 - 64 - 512 - grown
    assert plan.slots == int(plan.connections / 1.2) >= 10_000
    assert plan.slots * 1.2 <= plan.connections


def test_too_small_a_budget_is_refused():
    with pytest.raises(ValueError, match="no room for downloads"):
        plan_budget(200 << 20, 208 << 20, nofile=1024)


def test_link_sealed_under_old_secret_opens_after_rotation():
    from server.links import LinkSealer, TokenInvalid

    old, new = "old-secret-0123456789", "new-secret-0123456789"
    token = LinkSealer([old]).seal(b"payload", 2**40)
    rotated = LinkSealer([new, old])
    assert rotated.open(token)[0] == b"payload"
    assert LinkSealer([new]).open(rotated.seal(b"p2", 2**40))[0] == b"p2"  # seals with the first
    with pytest.raises(TokenInvalid):
        LinkSealer([new]).open(token)  # old secret dropped: the old link is gone


def test_centre_name_from_flag_or_environment_default_none():
    assert load_config([], env={}).centre_name == ""
    assert load_config(["--centre-name", " 阳光  少儿中心 "], env={}).centre_name == "阳光 少儿中心"
    env = {"PLANSTREAM_CENTRE_NAME": "Bright Kids"}
    assert load_config([], env=env).centre_name == "Bright Kids"
    assert load_config(["--centre-name", "Flag wins"], env=env).centre_name == "Flag wins"
    with pytest.raises(SystemExit) as exc:
        load_config(["--centre-name", "x" * 61], env={})
    assert exc.value.code == 2
