"""The update and signal handlers of PetitionWorkflow, one pair per command.

They are generated from the command list and only hand the raw payload on to the
workflow's ``_validate`` / ``_update`` / ``_signal``. They live in this module, which
the sandbox passes through, because generating and inspecting 69 handler functions
for every new workflow run cost more than the rest of the module's import.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

from domain.decide import EXTERNAL_COMMANDS
from workflows.contract import CommandResult


class CommandHandlers:
    """Mixed into PetitionWorkflow: ``accept_petition`` (update) and so on."""

    def _validate(self, kind: str, raw: RawValue) -> None:
        raise NotImplementedError

    async def _update(self, kind: str, raw: RawValue) -> CommandResult:
        raise NotImplementedError

    def _signal(self, kind: str, raw: RawValue) -> None:
        raise NotImplementedError


def _command_handlers(kind: str) -> tuple[Any, Any, Any]:
    # `self` stays unannotated: the SDK skips it only then when it reads argument types.
    async def update(self, payload: RawValue) -> CommandResult:  # type: ignore[no-untyped-def]
        result: CommandResult = await self._update(kind, payload)
        return result

    def validate(self, payload: RawValue) -> None:  # type: ignore[no-untyped-def]
        self._validate(kind, payload)

    def signal(self, payload: RawValue) -> None:  # type: ignore[no-untyped-def]
        self._signal(kind, payload)

    return update, validate, signal


def _add_command_handlers(cls: type) -> None:
    """An update and a signal per command, named after it (``accept_petition``...)."""
    for kind in EXTERNAL_COMMANDS:
        update, validate, signal = _command_handlers(kind)
        for fn, attr in (
            (update, kind),
            (validate, f"_validate_{kind}"),
            (signal, f"{kind}_signal"),
        ):
            fn.__name__ = attr
            fn.__qualname__ = f"{cls.__name__}.{attr}"
        handler = workflow.update(name=kind)(update)
        handler.validator(validate)
        setattr(cls, kind, handler)
        setattr(cls, f"{kind}_signal", workflow.signal(name=kind)(signal))


_add_command_handlers(CommandHandlers)
