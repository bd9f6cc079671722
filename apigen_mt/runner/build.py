"""Builders: from a run config and command-line choices to ready pipeline parts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from apigen_mt.blueprint.committee import Reviewer
from apigen_mt.blueprint.context import ContextSampler
from apigen_mt.blueprint.drafters import LLMDrafter, WalkDrafter
from apigen_mt.blueprint.feedback import FEEDBACK_STAGES, FeedbackWriter
from apigen_mt.blueprint.produce import Phase1
from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.config import RunConfig
from apigen_mt.env.domain import TAU_COMPAT, load_environment
from apigen_mt.env.environment import Environment
from apigen_mt.llm.base import Settings
from apigen_mt.llm.registry import RoleModels, build_role_models


@dataclass
class EnvRef:
    """How to load the run's environment again (manifests and workers; never a prompt)."""

    spec: str
    data_dir: str | None = None
    seed: int = 0
    # τ-bench's exact tools (True), the domain's corrected ones (False), or decided from the
    # data (None: on for a reference database loaded from data_dir). A run records the
    # decided value, so every later command of the run uses the same tools.
    tau_compat: bool | None = None

    def load(self) -> Environment:
        """A fresh environment."""
        return load_environment(self.spec, data_dir=self.data_dir, seed=self.seed,
                                tau_compat=self.tau_compat)

    def resolved(self) -> EnvRef:
        """This reference with ``tau_compat`` decided (loads the environment once)."""
        env = self.load()
        return replace(self, tau_compat=bool(env.state.options.get(TAU_COMPAT, False)))

    def as_dict(self) -> dict[str, Any]:
        """JSON form for manifests (never a prompt)."""
        return {"spec": self.spec, "data_dir": self.data_dir, "seed": self.seed,
                "tau_compat": self.tau_compat}


def blueprint_settings(config: RunConfig) -> BlueprintSettings:
    """The ``blueprint:`` block (validated when the config was loaded)."""
    return config.blueprint


def models_description(config: RunConfig,
                       roles: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Role → model names (and the endpoints serving them), for provenance and cards.

    ``roles`` limits it to the roles that made a record (e.g. a trajectory's human,
    critic and agent); endpoints appear by name with their base URL, credentials masked.
    """
    from apigen_mt.redact import redact_url

    r = config.roles
    every: dict[str, Any] = {"drafter": r.drafter.model,
                             "reviewers": [x.model for x in r.reviewers],
                             "feedback": r.feedback.model, "human": r.human.model,
                             "critic": r.critic.model, "agent": r.agent.model}
    out = {k: v for k, v in every.items() if roles is None or k in roles}
    refs = [m for v in out.values() for m in (v if isinstance(v, list) else [v])]
    endpoints = {ref.split(":", 1)[0] for ref in refs} & set(config.endpoints)
    if endpoints:
        out["endpoints"] = {name: redact_url(config.endpoints[name].base_url)
                            for name in sorted(endpoints)}
    return out


def build_phase1(config: RunConfig, env_ref: EnvRef, run_dir: Path | None,
                 models: RoleModels | None = None) -> tuple[Phase1, RoleModels]:
    """Everything phase 1 needs for one run."""
    settings = blueprint_settings(config)
    env = env_ref.load()
    models = models or build_role_models(config, run_dir)
    sampler = ContextSampler(env, settings, config.seed)
    if settings.drafter == "walk":
        from apigen_mt.sim.instructions import write_instruction  # the walk's words only

        drafter = WalkDrafter(env, config.seed, write_instruction)
    else:
        drafter = LLMDrafter(env, models.drafter, Settings(seed=config.seed),
                             settings.parse_retries)
    size = settings.committee_size
    reviewer_models = [models.reviewers[i % len(models.reviewers)] for i in range(size)]
    reviewers = [Reviewer(f"reviewer-{i}", m, Settings(seed=config.seed, sample=i),
                          settings.parse_retries) for i, m in enumerate(reviewer_models)]
    phase = Phase1(env=env, settings=settings, sampler=sampler, drafter=drafter,
                   reviewers=reviewers,
                   feedback=FeedbackWriter(models.feedback, Settings(seed=config.seed),
                                            FEEDBACK_STAGES[settings.feedback]),
                   recombiner=models.drafter, recombiner_settings=Settings(seed=config.seed),
                   seed=config.seed, models=models_description(config))
    return phase, models
