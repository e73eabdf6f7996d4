"""Reminders (催办) and supervision notices (督办): outbox first, then a sender.

A sender is anything with ``name`` and ``send(notification)``. The default writes a
structured log line; an SMS or e-mail gateway plugs in the same way.
"""

from __future__ import annotations

from typing import Literal, Protocol

import structlog
from pydantic import BaseModel
from temporalio import activity

from petitionflow.eventstore.outbox import Outbox


class Notification(BaseModel):
    id: str  # unique per reminder; a retried activity finds it already stored
    case_id: str
    kind: Literal["reminder", "supervision", "petitioner_otp"]
    recipient: str  # the unit
    message: str  # never the petition's material: it may go to an accused unit


class Sender(Protocol):
    name: str

    def send(self, notification: Notification) -> None: ...


# Messages a log line never holds unless told: a petitioner's one-time code is a
# credential, and an ordinary log is read by more people than the petitioner.
SECRET_KINDS = frozenset({"petitioner_otp"})


class LogSender:
    """Writes each notification as a log line. ``show_codes`` (``petition dev`` and the
    tests) lets the one-time codes into the line, as the developer's stand-in for the
    petitioner's phone; otherwise their message is left out. Recipients are units, or a
    petitioner's masked phone (``138****7766``), never the number."""

    name = "log"

    def __init__(self, *, show_codes: bool = False) -> None:
        self.log = structlog.get_logger("petitionflow.notify")
        self.show_codes = show_codes

    def send(self, notification: Notification) -> None:
        secret = notification.kind in SECRET_KINDS and not self.show_codes
        self.log.info(
            "notification",
            case_id=notification.case_id,
            kind=notification.kind,
            recipient=notification.recipient,
            message="(not logged)" if secret else notification.message,
            notification_id=notification.id,
        )


class NotifyActivities:
    def __init__(self, outbox: Outbox, sender: Sender | None = None) -> None:
        self.outbox = outbox
        self.sender = sender or LogSender()

    @activity.defn(name="notify")
    def notify(self, n: Notification) -> None:
        deliver(self.outbox, self.sender, n)


def deliver(outbox: Outbox, sender: Sender, n: Notification) -> None:
    """Store the notification, then send it unless it was sent already (a retry)."""
    outbox.put(n.id, n.case_id, n.kind, n.recipient, n.message)
    row = outbox.get(n.id)
    if row is not None and row.sent_at is None:
        sender.send(n)
        outbox.mark_sent(n.id, sender.name)
