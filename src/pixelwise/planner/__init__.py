"""Planning a run from the data: a fingerprint, documented rules, candidates timed here.

``pixelwise plan`` and ``pixelwise train --auto`` (see ``docs/auto.md``):
:func:`~pixelwise.planner.plan.make_plan` turns a dataset and a time budget into a run
configuration whose every derived value carries its reason.
"""

from __future__ import annotations

import json

from pixelwise.ownership import OwnedFolder
from pixelwise.planner.fingerprint import Fingerprint, fingerprint
from pixelwise.planner.plan import Plan, make_plan, plan_yaml

PLAN_COMMAND = "plan"
PLAN_FILE = "plan.yaml"
"""The plan's name in a run folder of ``train --auto``."""
FINGERPRINT_FILE = "fingerprint.json"


def fingerprint_json(plan: Plan) -> str:
    """The plan's fingerprint and timed candidates, as JSON."""
    document = {"fingerprint": plan.fingerprint.to_dict(), "plan": plan.to_dict()}
    return json.dumps(document, indent=2, default=list) + "\n"


def write_plan(plan: Plan, folder: OwnedFolder, name: str) -> None:
    """Write ``name`` (the plan's YAML) and ``fingerprint.json`` into ``folder``."""
    folder.write_text(name, plan_yaml(plan))
    folder.write_text(FINGERPRINT_FILE, fingerprint_json(plan))


__all__ = [
    "FINGERPRINT_FILE",
    "PLAN_COMMAND",
    "PLAN_FILE",
    "Fingerprint",
    "Plan",
    "fingerprint",
    "fingerprint_json",
    "make_plan",
    "plan_yaml",
    "write_plan",
]
