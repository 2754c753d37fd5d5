"""The first hour with a config: the example is complete and passes; `config check` warns
about what loads but would not work; `--config` goes anywhere; models install by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier import modelsdir
from pipeline.cli import main
from pipeline.config import from_dict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "triaje.toml"
TICKETS = ROOT / "tests" / "fixtures" / "classifier" / "tickets.csv"
SECRETS = {"TRIAJE_DESK_PASSWORD": "x", "TRIAJE_SMTP_PASSWORD": "y"}


def triaje(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True,
                          text=True, check=False, env={**environment, **(env or {})}, cwd=ROOT)


def warnings_of(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("warning: ")]


def test_the_example_has_every_section_and_passes():
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for section in ("database", "mailboxes", "desk", "classifier", "smtp", "outbox", "templates",
                    "routing", "service_levels", "complaints", "tracking"):
        assert section in data, section
    done = triaje("--config", str(EXAMPLE), "config", "check", env=SECRETS)
    assert done.returncode == 0 and "config OK" in done.stderr
    assert warnings_of(done) == []


def test_config_goes_before_or_after_the_subcommand():
    after = triaje("config", "check", "--config", str(EXAMPLE), env=SECRETS)
    equals = triaje("config", "check", f"--config={EXAMPLE}", env=SECRETS)
    before = triaje("--config", str(EXAMPLE), "config", "check", env=SECRETS)
    assert after.returncode == equals.returncode == before.returncode == 0
    assert after.stdout == before.stdout == equals.stdout
    missing = triaje("poll", "--once", "--config", "/nonexistent/triaje.toml")
    assert missing.returncode == 2 and "/nonexistent/triaje.toml does not exist" in missing.stderr


def test_unset_secret_variables_are_named():
    done = triaje("--config", str(EXAMPLE), "config", "check")
    assert done.returncode == 0
    text = "\n".join(warnings_of(done))
    assert "$TRIAJE_DESK_PASSWORD" in text and "$TRIAJE_SMTP_PASSWORD" in text


def test_warnings_for_what_would_not_work(tmp_path):
    config = tmp_path / "triaje.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/t.db"\n'
                      f'[classifier]\nmodels_dir = "{tmp_path}/models"\n')
    text = "\n".join(warnings_of(triaje("--config", str(config), "config", "check")))
    assert "[routing] is empty" in text and "no business_hours" in text and "24×7" in text
    config.write_text(config.read_text() + '[routing]\ndefault = "n1@example.org"\n'
                      '[[routing.rules]]\nqueue = ["telefonía"]\nto = ["t@example.org"]\n'
                      '[[routing.rules]]\ntype = ["incidente"]\nqueue = ["accesos"]\n'
                      'to = ["a@example.org"]\n'
                      '[service_levels]\nbusiness_hours = "08:00-18:00"\n')
    text = "\n".join(warnings_of(triaje("--config", str(config), "config", "check")))
    assert "routing.rules[0]: queue 'telefonía' is not a queue triaje knows" in text
    assert "Redes / Network" in text and "routing.rules[1]" not in text  # synonyms are known
    assert "[routing] is empty" not in text and "business_hours" not in text


def test_spanish_rule_words_are_codes_once_loaded():
    rules = from_dict({"routing": {"default": "n1@example.org", "rules": [
        {"type": ["Incidente", "avería"], "priority": ["crítica"], "queue": ["accesos"],
         "to": ["a@example.org"]}]}}).outbound.routing.rules
    assert (rules[0].type, rules[0].priority, rules[0].queue) == (
        ("incident", "incident"), ("critical",), ("access",))


@pytest.fixture(scope="module")
def desk_with_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    config = tmp / "triaje.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp}/t.db"\n'
                      f'[classifier]\nmodels_dir = "{tmp}/models"\n')
    done = CliRunner().invoke(main, ["--config", str(config), "train", "--data", str(TICKETS),
                                     "--out", str(tmp / "models" / "candidate"), "--install",
                                     "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return tmp, config, json.loads(done.output)


def test_train_install_puts_the_model_in_service_and_list_shows_only_versions(desk_with_model):
    tmp, config, summary = desk_with_model
    assert summary["installed"] == summary["version"]
    assert modelsdir.current_version(tmp / "models") == summary["version"]
    listed = json.loads(CliRunner().invoke(main, ["model", "list", "--json", "--config",
                                                  str(config)]).output)
    assert listed["versions"] == [summary["version"]]  # not the "candidate" folder it trained in


def test_a_rule_on_a_label_the_model_never_predicts_is_flagged(desk_with_model):
    _tmp, config, summary = desk_with_model
    queues = summary["heads"]["queue"]["labels"]
    config.write_text(config.read_text() + '[routing]\ndefault = "n1@example.org"\n'
                      '[[routing.rules]]\nqueue = ["procurement"]\nto = ["p@example.org"]\n'
                      f'[[routing.rules]]\nqueue = ["{queues[0]}"]\nto = ["q@example.org"]\n')
    text = "\n".join(warnings_of(triaje("--config", str(config), "config", "check")))
    assert "procurement" not in queues  # the fixture has no purchasing mail
    assert "routing.rules[0]: queue 'procurement' is a label the current model never predicts" in text
    assert "routing.rules[1]" not in text
