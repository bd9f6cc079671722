"""Item results as they cross from a worker process back to the driver: JSON each way.

The batch layers (phase 1, phase 2) decode what the workers (:mod:`apigen_mt.runner.remote`)
encode; both import this module, and neither imports the other for it.
"""

from __future__ import annotations

from typing import Any

from apigen_mt.blueprint.produce import SlotResult
from apigen_mt.records import Blueprint, RejectedBlueprint, Trajectory


def encode_slot(result: SlotResult) -> dict[str, Any]:
    """A phase-1 slot's result as JSON (what :func:`decode_slot` reads back)."""
    return {"slot": result.slot, "accepted": _dump(result.accepted),
            "rejected": _dump(result.rejected)}


def decode_slot(key: int, data: dict[str, Any]) -> SlotResult:
    """A worker's phase-1 result back as a :class:`SlotResult`."""
    accepted, rejected = data.get("accepted"), data.get("rejected")
    return SlotResult(data["slot"],
                      accepted=Blueprint.model_validate(accepted) if accepted else None,
                      rejected=RejectedBlueprint.model_validate(rejected) if rejected else None)


def decode_trajectory(key: int, data: dict[str, Any]) -> Trajectory:
    """A worker's phase-2 result back as a :class:`Trajectory`."""
    return Trajectory.model_validate(data)


def _dump(record: Any) -> dict[str, Any] | None:
    return None if record is None else record.model_dump(mode="json")
