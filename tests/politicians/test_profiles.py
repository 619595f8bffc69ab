"""``profile.toml`` written back as it is read (``facegate politicians add``)."""

from __future__ import annotations

import tomllib

from app.politicians.profiles import Profile, profile_toml


def test_profile_toml_round_trips_any_text() -> None:
    profile = Profile(
        name='Jo "the" Doe', role="Ministre de l'Intérieur", country="Ísland\n", description="a\\b"
    )
    assert Profile.model_validate(tomllib.loads(profile_toml(profile))) == profile
