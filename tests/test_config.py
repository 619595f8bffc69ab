"""Settings that would make facegate unsafe are refused when it starts, with the setting's name."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.assembly import stamp_key
from app.config import DEFAULT_AUTH_FAILURES_PER_MINUTE, Settings


def _refused(**values: object) -> str:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, **values)  # type: ignore[arg-type]
    return str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//evil.example/form",
        "/relative/form",
        "https://",
        "https://user:password@forms.example.org/",
        "https://forms.example.org/\r\nX-Injected: 1",
        "https://forms.example.org/a b",
        "https://forms.example.org:http/",
    ],
)
def test_a_form_url_that_is_not_a_web_link_is_refused(url: str) -> None:
    message = _refused(form_url=url)
    assert "FACEGATE_FORM_URL" in message
    assert "password" not in message.replace("user name or password", "")  # the value is never echoed


def test_web_links_are_kept_as_given() -> None:
    form = "https://forms.example.org/#/nc/form/2f1c"
    settings = Settings(_env_file=None, form_url=f"  {form} ", nocodb_url="http://nocodb:8080")
    assert (settings.form_url, settings.nocodb_url) == (form, "http://nocodb:8080")
    assert Settings(_env_file=None, form_url="").form_url is None


@pytest.mark.parametrize("setting", ["nocodb_url", "s3_endpoint_url"])
def test_service_urls_must_be_http(setting: str) -> None:
    assert f"FACEGATE_{setting.upper()}" in _refused(**{setting: "ftp://nocodb:21"})


@pytest.mark.parametrize("setting", ["cors_origins", "attachment_allowed_origins"])
@pytest.mark.parametrize(
    "origins", ["*", "null", "javascript:alert(1)", "https://site.example/path", "site.example"]
)
def test_origins_must_be_http_origins(setting: str, origins: str) -> None:
    assert f"FACEGATE_{setting.upper()}" in _refused(**{setting: origins})


def test_origins_are_normalised() -> None:
    settings = Settings(_env_file=None, cors_origins="https://campaign.example/, http://localhost:3000")
    assert settings.cors_origins == ["https://campaign.example", "http://localhost:3000"]


def test_trusted_proxies_are_addresses_or_networks() -> None:
    settings = Settings(_env_file=None, trusted_proxies="10.0.0.0/8, 192.168.1.7 ,::1")
    assert settings.trusted_proxies == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("::1/128"),
    ]
    assert Settings(_env_file=None).trusted_proxies == []
    assert "FACEGATE_TRUSTED_PROXIES" in _refused(trusted_proxies="proxy.internal")


def test_access_defaults_are_closed() -> None:
    settings = Settings(_env_file=None)
    assert settings.operator_api_key is None and not settings.operator_endpoints_open
    assert settings.metrics_token is None and not settings.metrics_public
    assert settings.auth_failures_per_minute == DEFAULT_AUTH_FAILURES_PER_MINUTE
    assert Settings(_env_file=None, metrics_token=" ").metrics_token is None  # empty is unset


def test_contradictory_access_settings_are_refused_without_echoing_the_key() -> None:
    message = _refused(operator_api_key="s3cret-operator-key", operator_endpoints_open=True)
    assert "FACEGATE_OPERATOR_ENDPOINTS_OPEN" in message and "s3cret" not in message
    message = _refused(metrics_token="s3cret-metrics-token", metrics_public=True)
    assert "FACEGATE_METRICS_PUBLIC" in message and "s3cret" not in message


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_OPERATOR_ENDPOINTS_OPEN", "true")
    monkeypatch.setenv("FACEGATE_METRICS_PUBLIC", "true")
    monkeypatch.setenv("FACEGATE_TRUSTED_PROXIES", "127.0.0.1")
    monkeypatch.setenv("FACEGATE_AUTH_FAILURES_PER_MINUTE", "5")
    settings = Settings(_env_file=None)
    assert settings.operator_endpoints_open and settings.metrics_public
    assert settings.trusted_proxies == [ipaddress.ip_network("127.0.0.1/32")]
    assert settings.auth_failures_per_minute == 5


def test_the_alignment_is_68_or_5_points(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).landmarks == 68
    monkeypatch.setenv("FACEGATE_LANDMARKS", "5")
    assert Settings(_env_file=None).landmarks == 5
    monkeypatch.setenv("FACEGATE_LANDMARKS", "7")
    with pytest.raises(ValidationError, match="landmarks"):
        Settings(_env_file=None)


def test_relative_folders_are_the_current_folders_as_env_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("FACEGATE_REFERENCE_DIR", "FACEGATE_DATA_DIR", "FACEGATE_NOCODB_UPLOADS_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("FACEGATE_NOCODB_UPLOADS_DIR=nocodb/uploads\n")
    settings = Settings()
    assert settings.reference_dir == tmp_path / "reference_faces"  # not the install folder's
    assert settings.data_dir == tmp_path / "data"
    assert settings.nocodb_uploads_dir == tmp_path / "nocodb" / "uploads"
    monkeypatch.setenv("FACEGATE_REFERENCE_DIR", "/srv/refs")
    assert Settings().reference_dir == Path("/srv/refs")  # an absolute folder stays as it is


def test_a_short_stamp_secret_is_refused_without_echoing_it(caplog: pytest.LogCaptureFixture) -> None:
    # Stamps are readable in the grid: a guessable secret would let anyone sign a decision offline.
    message = _refused(stamp_secret="short-secret")
    assert "STAMP_SECRET" in message and "short-secret" not in message
    assert Settings(_env_file=None, stamp_secret="  ").stamp_secret is None  # empty is unset
    with caplog.at_level(logging.WARNING, logger="app.assembly"):
        assert stamp_key(Settings(_env_file=None)) is None
    assert "FACEGATE_STAMP_SECRET unset" in caplog.text
    assert stamp_key(Settings(_env_file=None, stamp_secret="x" * 16)) is not None
