"""The pipeline's roles as the offline ``sim`` plays them: one table, passed to the backend
where it is built (:func:`apigen_mt.llm.registry.build_model`), never installed by an import.

Role names are the markers of the prompts in ``apigen_mt/prompts/`` (``<!-- role: NAME``).
"""

from __future__ import annotations

from apigen_mt.sim import critic, customer, drafter
from apigen_mt.sim.agent import agent
from apigen_mt.sim.model import default_handler
from apigen_mt.sim.request import SimHandler


def builtin_roles() -> dict[str, SimHandler]:
    """Role name → handler for every role of the pipeline (a fresh dict each call)."""
    return {
        "default": default_handler,
        # phase 1
        "drafter": drafter.drafter,
        "reviewer": drafter.reviewer,
        "feedback": drafter.feedback,
        "recombiner": drafter.recombiner,
        # phase 2
        "human": customer.human,
        "critic": customer.critic,
        "critic-batch": critic.critic_batch,
        "agent": agent,
    }
