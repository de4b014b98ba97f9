"""Rules as the API and `notifier rules check` show them, and the check behind both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from notifier.engine.rules import RuleSet, RuleSetError
from notifier.errors import TemplateError
from notifier.templating.catalog import TemplateCatalog


def load_rule_set(folder: Path) -> RuleSet:
    """The rule files in `folder` as they are on disk now; RuleSetError names each problem."""
    return RuleSet.load(folder)


def rule_json(ruleset: RuleSet) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "description": r.description,
            "on": list(r.on),
            "audience": r.audience,
            "channels": [c.value for c in r.channels],
            "template": r.template,
            "followup": r.after is not None or r.every is not None,
            "source": r.source,
            "enabled": r.enabled,
        }
        for r in ruleset.rules
    ]


def missing_templates(ruleset: RuleSet, catalog: TemplateCatalog, templates: Path) -> list[str]:
    return [
        f"{rule.source}: rule '{rule.name}': template: no {channel} template "
        f"'{rule.template}' in {templates}"
        for rule in ruleset.rules
        for channel in (*rule.channels, *filter(None, (rule.fallback_channel,)))
        if not catalog.has(rule.template, channel)
    ]


def check_rules(rules: Path, templates: Path, default_locale: str) -> tuple[int, list[str]]:
    """Load the rule files as they are on disk now: (how many rules, every problem)."""
    try:
        ruleset = RuleSet.load(rules)
    except RuleSetError as exc:
        return 0, list(exc.errors)
    try:
        catalog = TemplateCatalog.from_directory(templates, default_locale)
    except TemplateError as exc:
        return len(ruleset), [f"templates: {exc}"]
    return len(ruleset), missing_templates(ruleset, catalog, templates)
