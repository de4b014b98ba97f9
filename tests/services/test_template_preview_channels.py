"""The template preview (console and API) measures each channel's text its own way."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.channels.registry import channel_class
from notifier.domain.messages import ChannelName
from notifier.services import template_versions as versions
from tests.harness import harness

BLOCKS = (
    "{% block subject %}Panne{% endblock %}{% block text %}Panne en cours{% endblock %}"
    "{% block html %}<p>Panne</p>{% endblock %}"
)


@pytest.mark.parametrize("name", list(ChannelName))
async def test_preview_of_each_channel(tmp_path: Path, name: ChannelName) -> None:
    cls = channel_class(name)
    source = BLOCKS if cls.has_subject else "Panne en cours, retour prévu bientôt."
    async with harness(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}") as h:
        preview = await versions.preview(h.app, f"incident_declared/{name.value}.fr.j2", source)
    assert preview.error is None
    assert (preview.label, preview.max_chars) == (cls.label, cls.max_chars)
    assert (preview.subject is not None) == cls.has_subject
    if cls.segmented:
        assert (preview.sms_segments, preview.sms_encoding) == (1, "UCS-2")
        assert preview.ucs2_chars == ["ô"]
    else:
        # Not an SMS: no segments to show (the console would otherwise label it "SMS").
        assert preview.sms_segments is None and preview.ucs2_chars == []
