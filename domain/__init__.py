"""The petition process as pure code: commands in, events out. No I/O, no Temporal.

- :mod:`domain.intake`: the registered petition and its validation
- :mod:`domain.commands` / :mod:`domain.events`: what is asked, what happened
- :mod:`domain.decide`: where a command is validated against the case
- :mod:`domain.state`: the case state and ``evolve``
- :mod:`domain.policy`: deadlines and how days are counted
- :mod:`domain.repeat`: repeat petitions: the petitioner's keys and the matter's fingerprint
- :mod:`domain.calendar`: the official holiday arrangements as data, and snapshots of them
"""

from .commands import COMMAND_ADAPTER, Command, CommandBase
from .decide import Accepted, Decision, Rejection, decide, rejected_event
from .events import EVENT_ADAPTER, Event
from .intake import Intake
from .policy import Deadline, DeadlineKind, DeadlinePolicy, PolicyBook
from .state import CaseState, Stage, evolve, fold

__all__ = [
    "COMMAND_ADAPTER",
    "EVENT_ADAPTER",
    "Accepted",
    "CaseState",
    "Command",
    "CommandBase",
    "Deadline",
    "DeadlineKind",
    "DeadlinePolicy",
    "Decision",
    "Event",
    "Intake",
    "PolicyBook",
    "Rejection",
    "Stage",
    "decide",
    "evolve",
    "fold",
    "rejected_event",
]
