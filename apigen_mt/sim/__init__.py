"""The offline ``sim`` model, in one package behind the model port.

:class:`SimModel` is a :class:`~apigen_mt.llm.base.ChatModel` that answers every role
from its request alone (messages, tools, settings). How it plays each pipeline role is
:func:`builtin_roles`, handed to the backend by :mod:`apigen_mt.llm.registry`. Modules:

- ``model``, ``request``: the backend, and what a role handler is given and answers;
- ``roles``: the table of the pipeline's roles;
- ``drafter``, ``drafting``: phase 1 (drafter, reviewer, feedback, recombiner);
- ``customer``, ``reading``, ``agent``, ``critic``: phase 2 (the customer reads its
  instruction and speaks from ``phrases.json``; the agent; the batched critic);
- ``phrasing``, ``instructions``: how tools, values and goals are said in words, and the
  template instruction writer (the ``walk`` drafter is given it by the runner).

It imports the model port, prompts, records, config and the environment's pure value
helpers (:mod:`apigen_mt.env.values`); nothing from ``blueprint``, ``rollout``,
``runner`` or the CLI, and nothing there imports it but the model registry and the runner.
"""

from apigen_mt.sim.model import SimModel
from apigen_mt.sim.request import SimReply, SimRequest
from apigen_mt.sim.roles import builtin_roles

__all__ = ["SimModel", "SimReply", "SimRequest", "builtin_roles"]
