"""What the engine's workflows (the case's, the dispute's, the joint conference's) do
alike at their boundary: read a raw input, refuse one that did not come through the
payload codec, fail an update or a run with a Rejection's code, and reach the event
store through a local activity.

Workflow code, kept apart from the workflow modules as ``contract.py`` is: they import
it through ``workflow.unsafe.imports_passed_through()``, so it is loaded once per worker
process, not for every run. It holds no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ApplicationError

from petitionflow.domain.decide import Rejection
from petitionflow.domain.intake import field_errors
from petitionflow.security.codec import DECRYPTED

T = TypeVar("T")

# Encryption is never optional: a start, update or signal whose argument did not come
# through the payload codec (``temporal`` without ``--codec-endpoint``, an SDK client
# with the plain converter) is refused with this code. Its plain personal data is in
# history already; only deleting the execution removes it before the retention ends.
UNENCRYPTED_CODE = "unencrypted_payload"
# A local activity that reaches the store (an append, a read of the calendar or the
# unit directory) is retried until the database is back: a workflow waits rather than
# loses an event.
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)
# An append takes milliseconds; if its worker dies, the retry elsewhere starts this soon.
ACTIVITY_TIMEOUT = timedelta(seconds=10)


def decode(raw: RawValue, model: type[BaseModel] | None = None) -> Any:
    """A raw payload as JSON data (or as ``model``), or a Rejection saying why not."""
    try:
        value = workflow.payload_converter().from_payload(raw.payload)
    except Exception as exc:  # undecodable bytes: the converter says what was wrong
        return Rejection(code="invalid_command", message=f"payload is not JSON: {exc}"[:500])
    if model is None:
        return value
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        return Rejection(code="invalid_start", message="; ".join(field_errors(exc))[:2000])


def command_payload(args: Sequence[RawValue]) -> Any:
    """The one argument of an update or signal as JSON data, or a Rejection saying why not."""
    if len(args) != 1:
        return Rejection(
            code="invalid_command", message=f"expected one argument, the command; got {len(args)}"
        )
    return decode(args[0])


def unencrypted(args: Sequence[RawValue]) -> bool:
    """Whether an argument arrived without the payload codec: only the codec's decryption
    sets the ``petitionflow-decrypted`` marker (``security/codec.py``)."""
    return any(DECRYPTED not in raw.payload.metadata for raw in args)


def rejection_error(rejection: Rejection) -> ApplicationError:
    """What an update's validator raises, or a run fails with, for ``rejection``: its
    code is the error's type."""
    return ApplicationError(str(rejection), type=rejection.code, non_retryable=True)


def unencrypted_update(send_encrypted: str) -> ApplicationError:
    """The refusal of an update whose input did not come through the codec (a rejected
    update leaves no event in history: nothing of its input is stored)."""
    return rejection_error(
        Rejection(
            code=UNENCRYPTED_CODE,
            message=f"the update's input arrived unencrypted; {send_encrypted}",
        )
    )


async def call_store(
    activity: str,
    arg: Any,
    result_type: type[T],
    summary: str,
    retry_policy: RetryPolicy = STORE_RETRY,
) -> T:
    """Run the local activity ``activity`` that reads or writes the store, inside the
    workflow task that asks (its answer is recorded in history, so a replay takes it)."""
    result: T = await workflow.execute_local_activity(
        activity,
        arg,
        result_type=result_type,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=retry_policy,
        summary=summary,
    )
    return result
