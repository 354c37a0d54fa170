"""Settings are typed where the domain has types: server addresses, secrets, choices."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kernel.settings import CountingMethod, Environment, Settings, describe_problems
from video.counting import METHODS

PASSWORD = "Xq7-very-private-9Lk"


@pytest.mark.parametrize("url", [
    "postgresql://postgres:@/sharpeyes?host=/tmp/embedded-pg",    # the embedded server's form
    "postgresql://postgres@127.0.0.1:5432/test",
    f"postgres://sharpeyes:{PASSWORD}@db.internal/sharpeyes",
    "user=postgres dbname=bench host=/tmp/embedded-pg",           # store.db.url_with_database
])
def test_database_urls_libpq_reads_are_accepted(url: str) -> None:
    assert Settings(database_url=url).database_url == url


@pytest.mark.parametrize(("url", "reason"), [
    (f"mysql://root:{PASSWORD}@db/x", "must be a postgresql:// URL"),
    ("postgresql:///sharpeyes", "names no host"),
    (f"postgresql://u:{PASSWORD}@db:70000/x", "port outside"),
    ("dbname=x nonsense", "libpq"),
])
def test_bad_database_urls_are_refused_by_name_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(database_url=url)
    described = describe_problems(refused.value)
    assert described.startswith("SHARPEYES_DATABASE_URL:") and reason in described
    assert PASSWORD not in described


@pytest.mark.parametrize(("url", "ok"), [
    ("mqtt://127.0.0.1:1883", True), (f"mqtts://ingest:{PASSWORD}@broker:8883", True),
    ("http://broker", False), ("mqtt://broker:99999", False), ("mqtt://broker/topic", False),
    ("mqtt://:1883", False),
])
def test_broker_urls(url: str, ok: bool) -> None:
    if ok:
        assert Settings(mqtt_url=url).mqtt_url == url
        return
    with pytest.raises(ValidationError) as refused:
        Settings(mqtt_url=url)
    assert describe_problems(refused.value).startswith("SHARPEYES_MQTT_URL:")


def test_the_environment_names_stay_and_choices_are_enums(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARPEYES_DATABASE_URL", f"postgresql://u:{PASSWORD}@db/x")
    monkeypatch.setenv("SHARPEYES_VIDEO_METHOD", "yolox")
    monkeypatch.setenv("SHARPEYES_JWT_SECRET", "d" * 40)
    settings = Settings()
    assert settings.video_method is CountingMethod.YOLOX
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.token_secret() == "d" * 40
    assert PASSWORD not in repr(settings) and "d" * 40 not in repr(settings)
    monkeypatch.setenv("SHARPEYES_VIDEO_METHOD", "magic")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert describe_problems(refused.value).startswith("SHARPEYES_VIDEO_METHOD:")
    assert set(METHODS) == {m.value for m in CountingMethod}   # one list of counting methods
