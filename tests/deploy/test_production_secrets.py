"""Production refuses example, placeholder and guessable secrets at start, and the
manifests ship none that could be used.

The values the deploy files and docs show are collected here independently of
:mod:`kernel.secret_policy`, and must be refused even where those files are absent
(an installed package): by the policy's words, its list of shipped examples or its
entropy checks alone.
"""

from __future__ import annotations

import re
import secrets
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kernel import secret_policy
from kernel.secret_policy import WeakSecret, check_secret, weakness
from kernel.settings import Settings, describe_problems
from sharpeyes import cli
from tests.deploy.conftest import DEPLOY, K8S, REPO, k8s_documents

SECRET_VARIABLES = ("SHARPEYES_JWT_SECRET", "SHARPEYES_BROKER_SECRET")
_ASSIGNED = re.compile(r"(SHARPEYES_(?:JWT|BROKER)_SECRET|POSTGRES_PASSWORD)[\"']?\s*[:=]\s*"
                       r"[\"']?([^\s\"'`#]*)")
_URL = re.compile(r"://[^:/\s@]+:([^@\s]+)@")


def _shown_values() -> set[str]:
    files = [REPO / "README.md", *DEPLOY.rglob("*"), *(REPO / "docs").rglob("*.md")]
    found: set[str] = set()
    for path in files:
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found |= {m[2] for m in _ASSIGNED.finditer(text)}
        found |= {m[1] for m in _URL.finditer(text)}
    # References (${VAR}, $(command)), placeholders in angle brackets and empty values
    # are no values.
    return {v for v in found if v and not v.startswith(("$", "<"))}


@pytest.fixture
def no_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    """As an installed package, with no deploy files or docs beside it."""
    monkeypatch.setattr(secret_policy, "repository_examples", lambda: frozenset())


def test_every_secret_shown_in_deploy_files_and_docs_is_refused(no_repository: None) -> None:
    shown = _shown_values()
    assert "CHANGE-ME-at-least-32-characters-long-secret" in shown   # the collection works
    accepted = {v for v in shown if weakness(v) is None and secret_policy.placeholder_reason(
        v) is None}
    assert accepted == set(), f"usable secrets in the repository: {sorted(accepted)}"


def test_a_value_added_to_the_docs_is_refused_from_the_checkout() -> None:
    secret_policy.repository_examples.cache_clear()
    try:
        assert secret_policy.repository_examples() >= {
            "CHANGE-ME-at-least-32-characters-long-secret"}
    finally:
        secret_policy.repository_examples.cache_clear()


@pytest.mark.parametrize("value", [
    "CHANGE-ME-at-least-32-characters-long-secret",
    "change_me_please_0123456789abcdefghijkl",
    "ChangeMe!ChangeMe!ChangeMe!ChangeMe!",
    "this-is-an-example-jwt-secret-of-length-40",
    "placeholder-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "my-secret-my-secret-my-secret-my-secret",
    "x" * 32, "k" * 64, "ab" * 20, "0123456789" * 4,
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghij",
])
def test_placeholders_and_low_entropy_strings_are_refused(value: str,
                                                          no_repository: None) -> None:
    with pytest.raises(WeakSecret, match="SHARPEYES_JWT_SECRET is refused in production: "):
        check_secret("SHARPEYES_JWT_SECRET", value)


@settings(max_examples=200, deadline=None)
@given(st.text(string.ascii_letters + string.digits + "-_", min_size=0, max_size=40),
       st.sampled_from(["CHANGE-ME", "changeme", "Example", "PLACEHOLDER", "replace_me"]),
       st.text(string.ascii_letters + string.digits + "-_", min_size=0, max_size=40))
def test_a_placeholder_word_anywhere_is_refused(head: str, word: str, tail: str) -> None:
    assert weakness(head + word + tail) is not None


def test_generated_secrets_are_accepted() -> None:
    """The command the docs give, and hex keys, pass: the checks refuse no real secret."""
    candidates = ([secrets.token_urlsafe(48) for _ in range(2000)]
                  + [secrets.token_urlsafe(32) for _ in range(2000)]
                  + [secrets.token_hex(32) for _ in range(500)])
    refused = [(c, weakness(c)) for c in candidates if weakness(c) is not None]
    assert refused == []


def _serve(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
           **env: str) -> tuple[int, str]:
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHARPEYES_ENVIRONMENT", "production")
    monkeypatch.setenv("SHARPEYES_DATABASE_URL", "postgresql://sharpeyes:x7Kp2@127.0.0.1:1/db")
    monkeypatch.setenv("SHARPEYES_MQTT_URL", "mqtt://127.0.0.1:1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = cli.main(["serve", "api"])
    return code, capsys.readouterr().err


def test_serve_refuses_the_shipped_example_secret_in_production(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    example = "CHANGE-ME-at-least-32-characters-long-secret"
    code, err = _serve(monkeypatch, capsys, SHARPEYES_JWT_SECRET=example)
    assert code == 2 and "refusing to start" in err and "SHARPEYES_JWT_SECRET" in err
    good = secrets.token_urlsafe(48)
    code, err = _serve(monkeypatch, capsys, SHARPEYES_JWT_SECRET=good,
                       SHARPEYES_BROKER_SECRET=example)
    assert code == 2 and "SHARPEYES_BROKER_SECRET" in err
    code, err = _serve(monkeypatch, capsys, SHARPEYES_JWT_SECRET=good,
                       SHARPEYES_MQTT_URL="mqtt://ingest:CHANGE-ME@127.0.0.1:1")
    assert code == 2 and "SHARPEYES_MQTT_URL" in err and "CHANGE-ME" not in err
    code, err = _serve(monkeypatch, capsys)
    assert code == 2 and "set SHARPEYES_JWT_SECRET" in err


def test_good_secrets_pass_and_development_is_unchecked() -> None:
    good = secrets.token_urlsafe(48)
    Settings(environment="production", jwt_secret=good,
             broker_secret=secrets.token_urlsafe(48),
             mqtt_url=f"mqtts://ingest:{secrets.token_urlsafe(16)}@broker:8883",
             database_url="postgresql://sharpeyes:s3cr3t-db@db/sharpeyes",
             ).require_production_secrets()
    Settings(jwt_secret="x" * 32).require_production_secrets()    # development


def test_broker_passwords_are_not_derived_from_an_example_in_production(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    example = "CHANGE-ME-at-least-32-characters-long-secret"
    monkeypatch.setenv("SHARPEYES_ENVIRONMENT", "production")
    monkeypatch.setenv("SHARPEYES_JWT_SECRET", secrets.token_urlsafe(48))
    monkeypatch.setenv("SHARPEYES_BROKER_SECRET", example)
    assert cli.main(["broker", "password", "CAM-A"]) == 2
    err = capsys.readouterr().err
    assert "SHARPEYES_BROKER_SECRET is refused in production" in err and example not in err
    monkeypatch.setenv("SHARPEYES_BROKER_SECRET", secrets.token_urlsafe(48))
    assert cli.main(["broker", "password", "CAM-A"]) == 0
    secret_file = tmp_path / "broker-secret"
    secret_file.write_text(example)
    assert cli.main(["broker", "password", "CAM-A", "--secret-file", str(secret_file)]) == 2
    assert "broker secret is refused in production" in capsys.readouterr().err


@pytest.mark.parametrize("field", ["jwt_secret", "broker_secret"])
def test_production_settings_cannot_be_built_with_an_example_and_never_echo_it(
        field: str) -> None:
    example = "CHANGE-ME-at-least-32-characters-long-secret"
    values = {"jwt_secret": secrets.token_urlsafe(48), field: example}
    with pytest.raises(ValidationError) as refused:
        Settings(environment="production", **values)
    described = describe_problems(refused.value)
    assert f"SHARPEYES_{field.upper()} is refused in production" in described
    assert example not in described
    with pytest.raises(ValidationError):
        Settings(environment="production")             # no token secret at all
    settings = Settings(**values)                        # development: unchecked, and hidden
    assert example not in repr(settings) and example not in str(settings)


def test_the_manifests_hold_no_secret_values() -> None:
    documents: list[dict[str, Any]] = [d for p in sorted(K8S.glob("*.yaml"))
                                       for d in k8s_documents(p)]
    secrets_shipped = [d["metadata"]["name"] for d in documents if d.get("kind") == "Secret"]
    assert secrets_shipped == []
    referenced = {ref["secretRef"]["name"] for d in documents if d.get("kind") in (
        "Deployment", "StatefulSet") for c in d["spec"]["template"]["spec"]["containers"]
        for ref in c.get("envFrom", []) if "secretRef" in ref}
    assert referenced == {"sharpeyes-secrets"}
    assert "kubectl -n sharpeyes create secret generic sharpeyes-secrets" in (
        K8S / "config.yaml").read_text()
