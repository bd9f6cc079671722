"""Phase-1 settings (the ``blueprint:`` block of a run config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ContextRates(BaseModel):
    """How often each context part is included in a draft's context."""

    model_config = ConfigDict(extra="forbid")

    walk: float = 1.0
    rules: float = 1.0  # the policy text (the sections that bear on the walk)
    user: float = 1.0
    persona: float = 0.7
    examples: float = 0.8


class BlueprintSettings(BaseModel):
    """Knobs of blueprint generation; defaults follow the paper where it gives a number."""

    model_config = ConfigDict(extra="forbid")

    drafter: str = Field("llm", pattern="^(llm|walk)$")
    max_rounds: dict[str, int] = Field(default_factory=lambda: {"retail": 3, "airline": 5})
    default_max_rounds: int = 3
    committee_size: int = Field(3, ge=1, le=64)
    # which rejections the feedback role turns into advice: "reviews" asks it only after
    # the committee (free-text reflections from several reviewers, worth a summary) and
    # hands the checks' own reasons to the drafter as they are (format, execution and
    # policy reasons already name the action and the error exactly; a model rephrasing
    # them costs a call per round and adds no fact); "always" is the paper's every time
    feedback: str = Field("reviews", pattern="^(reviews|always)$")
    accept_threshold: float = Field(0.75, ge=0, le=1)
    # share of the accepted blueprints that are recombinations of others (same user);
    # phase 1 drafts the rest first, then recombines
    recombine_share: float = Field(0.25, ge=0, le=1)
    reuse_user_rate: float = Field(0.3, ge=0, le=1)
    # a slot drafts for the same user as the slot before it at this rate, so that users
    # with several accepted tasks exist to recombine (without depending on timing)
    sibling_rate: float = Field(0.5, ge=0, le=1)
    context: ContextRates = Field(default_factory=ContextRates)
    user_token_budget: int = 1500
    examples: int = 2
    # writes per blueprint: count → probability (normalised); longer tasks make longer
    # conversations (the paper's trajectories average about 7 tool calls). Long tasks
    # fail the judge more often, so the kept ones are shorter than drawn: this default
    # keeps trajectories at 5 or more tool calls offline (BENCHMARKS.md)
    writes: dict[int, float] = Field(
        default_factory=lambda: {1: 0.05, 2: 0.3, 3: 0.4, 4: 0.25})
    personas_file: str | None = None
    parse_retries: int = 2
    concurrency: int = Field(32, ge=1, le=4_096)
    # give up (clearly) when drafting keeps failing: at most this many slots per wanted
    # blueprint, plus a small allowance, before the run stops with its top reasons
    max_slots_per_blueprint: int = Field(20, ge=1, le=10_000)
    # slot k only sees blueprints accepted in slots < k - lag, so what a slot sees never
    # depends on timing: a rerun, a resume and a run at any concurrency write the same
    # files (None: the concurrency, which ties the files to it). Slots more than `lag`
    # ahead of the oldest unfinished one wait, so at a high concurrency a lag of about
    # twice the concurrency keeps the endpoint busy while a slow slot finishes (a longer
    # lag means later, staler examples: a trade-off, hence not the default).
    example_lag: int | None = Field(32, ge=0)

    @field_validator("writes")
    @classmethod
    def _writes(cls, value: dict[int, float]) -> dict[int, float]:
        if not value or any(k < 1 for k in value) or any(p < 0 for p in value.values()) \
                or sum(value.values()) <= 0:
            raise ValueError("writes must map counts >= 1 to non-negative weights, e.g. "
                             "{1: 0.4, 2: 0.4, 3: 0.2}")
        return value

    def draw_writes(self, rng) -> int:
        """A number of writes for one blueprint, from the ``writes`` distribution."""
        counts = sorted(self.writes)
        return rng.choices(counts, [self.writes[c] for c in counts])[0]

    def rounds_for(self, env: str) -> int:
        """Maximum drafting rounds (first draft + redrafts) for a domain."""
        return self.max_rounds.get(env, self.default_max_rounds)
