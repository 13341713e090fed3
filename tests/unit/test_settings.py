"""The settings object: it names the same variables as the README, and a bad value stops the start."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, Settings, load

ROOT = Path(__file__).resolve().parent.parent.parent


def readme_variables() -> list[str]:
    """The variable names in the first column of the README's configuration table."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "the README's configuration table has no rows"
    return [name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])]


def test_the_readme_table_and_the_settings_object_name_the_same_variables():
    documented = readme_variables()
    assert len(documented) == len(set(documented)), "a variable is listed twice in the README"
    assert set(documented) - set(Settings.model_fields) == set(), "documented but never read"
    assert set(Settings.model_fields) - set(documented) == set(), "read but not documented in the README"


def test_every_setting_says_what_it_expects():
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No Leadboard variable from the shell running the tests leaks in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADBOARD_INSTANCE", str(tmp_path))
    return monkeypatch


@pytest.mark.parametrize("name, value, expects", [
    ("SMTP_TIMEOUT", "abc", "number of seconds"),
    ("SMTP_TIMEOUT", "0", "above 0"),
    ("EMAIL_RETRY_DELAYS", "x", "separated by commas"),
    ("EMAIL_RETRY_DELAYS", "60,-5", "(entry 2) is not valid"),
    ("EMAIL_LEASE_SECONDS", "two minutes", "whole number of seconds"),
    ("EMAIL_BATCH_SIZE", "5000", "from 1 to 1000"),
    ("SWEEP_INTERVAL", "-1", "seconds above 0"),
    ("SWEEP_GRACE_SECONDS", "1.5", "whole number of seconds"),
    ("IMPORT_STALE_SECONDS", "2", "whole number of seconds from 3"),
    ("SESSION_LIFETIME_DAYS", "0", "days above 0"),
    ("PROXY_COUNT", "yes", "whole number of proxies"),
    ("API_RATE_LIMIT", "lots", "rate limit"),
    ("API_RATE_LIMIT", "600 per fortnight", "rate limit"),
    ("CAPTURE_RATE_LIMIT", "5/minute;sometimes", "rate limit"),
    ("CAPTURE_MIN_FILL_SECONDS", "soon", "number of seconds"),
    ("DEFAULT_PHONE_REGION", "ZZ", "two-letter country code"),
    ("DEFAULT_PHONE_REGION", "USA", "two-letter country code"),
    ("TEAM_TIMEZONE", "Mars/Olympus_Mons", "IANA timezone"),
    ("LEADBOARD_ENV", "prod", "development, testing or production"),
    ("BASE_URL", "leads.example.com", "http:// or https://"),
    ("REDIS_URL", "localhost:6379", "redis://"),
    ("SMTP_URL", "mail.example.com:587", "smtp://"),
    ("MAIL_FROM", "Sales team", "an address"),
    ("PORT", "99999", "port number"),
])
def test_a_bad_value_stops_the_start_naming_the_variable_and_what_it_expects(clean_env, name, value, expects):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load()
    message = str(err.value)
    assert message.startswith(f"{name}=") and expects in message, message
    assert "\n" not in message  # one bad variable, one line


def test_every_bad_value_is_named_at_once(clean_env):
    clean_env.setenv("SMTP_TIMEOUT", "abc")
    clean_env.setenv("TEAM_TIMEZONE", "Nowhere/Special")
    with pytest.raises(ConfigError) as err:
        load()
    assert [line.split("=")[0] for line in str(err.value).splitlines()] == ["SMTP_TIMEOUT", "TEAM_TIMEZONE"]


def test_overrides_given_to_the_factory_are_checked_like_the_environment(clean_env):
    with pytest.raises(ConfigError, match="^API_RATE_LIMIT="):
        load({"API_RATE_LIMIT": "often"})
    config = load({"EMAIL_RETRY_DELAYS": "1, 2", "DEFAULT_PHONE_REGION": "gb"})
    assert config["EMAIL_RETRY_DELAYS"] == [1, 2] and config["DEFAULT_PHONE_REGION"] == "GB"


def test_an_empty_variable_counts_as_unset(clean_env):
    for name in ("SMTP_TIMEOUT", "SMTP_URL", "API_RATE_LIMIT", "DEFAULT_PHONE_REGION"):
        clean_env.setenv(name, "")
    config = load()
    assert (config["SMTP_TIMEOUT"], config["SMTP_URL"], config["API_RATE_LIMIT"],
            config["DEFAULT_PHONE_REGION"]) == (30, "", "600/minute", "US")


def test_the_flask_command_prints_one_line_for_a_bad_setting_not_a_traceback(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in Settings.model_fields}
    env.update(LEADBOARD_INSTANCE=str(tmp_path), SMTP_TIMEOUT="abc")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "routes"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: SMTP_TIMEOUT='abc' is not valid (")
    assert line.endswith("it expects a number of seconds above 0, such as 30.")


def test_make_run_stops_before_starting_anything_on_a_bad_setting(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in Settings.model_fields}
    env.update(LEADBOARD_INSTANCE=str(tmp_path / "instance"), PORT="http")
    result = subprocess.run([sys.executable, "-m", "app.devserver"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: PORT='http' is not valid")
    assert not (tmp_path / "instance").exists()  # no embedded Redis, worker or web process was started
