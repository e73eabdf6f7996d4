"""Which version of the process rules a case runs under.

A running case replays its history through ``decide``; a rule added later must not
change what ``decide`` says about commands the case already took. The workflow asks
``workflow.patched(RULES_PATCH)`` once per run: a run that began under today's code
gets :data:`CURRENT`, a history recorded before the patch gets :data:`LEGACY` for the
rest of that run (a continue-as-new starts the next run under :data:`CURRENT`).

Each flag names one rule of the regulation that was added after cases were running.
``decide`` called without ``rules`` (tests, the client's pre-checks) uses
:data:`CURRENT`.
"""

from __future__ import annotations

from .values import Frozen

RULES_PATCH = "regulation-rules-2026-11"


class Rules(Frozen):
    # Arts 32, 35, 36 and the routing articles: every command is checked against who
    # issued it (the handling unit decides, the review unit reviews, the petitioner
    # rates, requests review and withdraws, the registering office routes).
    actor_checks: bool = True
    # Arts 35, 36: the evaluation and review windows count from delivery (送达) of the
    # written reply, which is recorded with ``record_delivery``.
    delivery: bool = True


CURRENT = Rules()
LEGACY = Rules(actor_checks=False, delivery=False)
