"""``noractl`` and the configuration file."""

from __future__ import annotations

import pytest

from nora_server.cli import nora, noractl
from nora_server.config import ConfigError, default_config_path, load_settings


def test_config_path(monkeypatch, tmp_path):
    monkeypatch.setenv("NORA_CONFIG", str(tmp_path / "x.toml"))
    assert default_config_path() == tmp_path / "x.toml"
    monkeypatch.delenv("NORA_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_config_path() == tmp_path / "cfg/nora/nora.toml"


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="noractl init"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[archive\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)
    bad.write_text("[archive]\ndatabase = 'sqlite://'\n")
    with pytest.raises(ConfigError, match="'storage'"):
        load_settings(bad)
    rel = tmp_path / "rel.toml"
    rel.write_text("[archive]\ndatabase = 'sqlite://'\nstorage = 'data'\n[dicom]\naet = 'X'\n")
    s = load_settings(rel)
    assert s.storage == tmp_path / "data" and s.sections == {"dicom": {"aet": "X"}}


def test_init_creates_the_embedded_default(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "conf/nora.toml"
    monkeypatch.setenv("NORA_CONFIG", str(cfg))
    monkeypatch.setenv("NORA_USER", "boss")
    assert noractl.main(["init", str(tmp_path / "root"), "--admin", "boss"]) == 0
    s = load_settings()
    assert s.database == f"sqlite:///{tmp_path / 'root/nora.sqlite'}"
    assert s.storage == tmp_path / "root/storage" and s.storage.is_dir()
    assert (tmp_path / "root/nora.sqlite").is_file()
    # the admin can work at once
    assert nora.main(["-c", "first"]) == 0
    assert (tmp_path / "root/storage/first").is_dir()
    capsys.readouterr()
    assert noractl.main(["status"]) == 0
    assert "schema: " in capsys.readouterr().out
    # a second init does not overwrite the configuration
    assert noractl.main(["init", str(tmp_path / "other")]) == 1
    assert "--force" in capsys.readouterr().err


def test_db_upgrade_and_users_on_both_backends(fresh_url, tmp_path, monkeypatch, capsys):
    from nora_server.config import Settings, write_settings

    cfg = write_settings(Settings(database=fresh_url, storage=tmp_path / "st"),
                         tmp_path / "nora.toml")
    monkeypatch.setenv("NORA_CONFIG", str(cfg))
    monkeypatch.setenv("NORA_USER", "root2")
    assert noractl.main(["user", "add", "root2", "--site-admin"]) == 1  # no schema yet
    assert "noractl db upgrade" in capsys.readouterr().err
    assert noractl.main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert "current: " in out and "current: None" not in out
    assert noractl.main(["user", "add", "root2", "--site-admin"]) == 0
    assert nora.main(["--admin", "user", "list"]) == 0
    assert '"root2"' in capsys.readouterr().out
    assert noractl.main(["recover"]) == 0
    assert "recovered 0" in capsys.readouterr().out


def test_unreachable_database_is_a_clear_error(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "nora.toml"
    cfg.write_text("[archive]\ndatabase = 'mysql+pymysql://nobody@127.0.0.1:1/nora'\n"
                   f"storage = '{tmp_path}'\n")
    monkeypatch.setenv("NORA_CONFIG", str(cfg))
    assert noractl.main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert "database error" in err and "Traceback" not in err


def test_usage_errors(capsys):
    assert noractl.main([]) == 2
    assert noractl.main(["db", "sideways"]) == 2
    assert noractl.main(["--help"]) == 0
    out = capsys.readouterr().out  # the commands handled before argparse are listed too
    for command in ("start|stop|status dicom", "test slurm", "noractl demo"):
        assert command in out, command
