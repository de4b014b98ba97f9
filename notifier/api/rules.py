"""/api/rules: the rules in force, and a check of the files on disk."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from notifier.api.deps import AppDep, Reader
from notifier.services.rules import check_rules, rule_json

router = APIRouter(prefix="/api/rules", tags=["rules"])


class RulePublic(BaseModel):
    name: str
    description: str
    on: list[str]
    audience: str
    channels: list[str]
    template: str
    followup: bool
    source: str
    enabled: bool


class RuleList(BaseModel):
    rules: list[RulePublic]


class RuleCheck(BaseModel):
    ok: bool
    rules: int
    problems: list[str]


@router.get("")
async def list_rules(app: AppDep, key: Reader) -> RuleList:
    """The rules in force in this process."""
    return RuleList.model_validate({"rules": rule_json(app.rules.current)})


@router.get("/check")
async def check(app: AppDep, key: Reader) -> RuleCheck:
    """Load the rule files now: every rule valid, every template present."""
    paths = app.settings.paths
    count, problems = check_rules(paths.rules, paths.templates, app.settings.default_locale)
    return RuleCheck(ok=not problems, rules=count, problems=problems)
