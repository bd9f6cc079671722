"""Property tests: arbitrary calls never raise and never leave a partial change."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apigen_mt.env.domain import available, load_environment
from tests.env.test_engine import NOTES

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _arguments(env, data):
    name = data.draw(st.sampled_from([*sorted(env.tools), "no_such_tool"]))
    tool = env.tools.get(name)
    props = tool.parameters["properties"] if tool else {}
    # plausible values taken from the data make some calls succeed and reach deep code
    ids = [k for table in env.state for k in list(env.state[table])[:30]]
    value = st.one_of(json_value, st.sampled_from(ids or ["x"]),
                      st.lists(st.sampled_from(ids or ["x"]), max_size=3))
    args = {k: data.draw(value) for k in props if data.draw(st.booleans()) or True}
    if data.draw(st.booleans()):
        args = {k: v for k, v in args.items() if data.draw(st.booleans())}
    if data.draw(st.integers(0, 9)) == 0:
        args["unexpected"] = 1
    return name, args


def _check_calls(env_spec, data):
    env = load_environment(env_spec).fresh()
    base_sum = env.base.canonical_sum()
    for _ in range(data.draw(st.integers(1, 6))):
        name, args = _arguments(env, data)
        before_hash, before_changes = env.hash(), env.state.changes()
        obs = env.execute(name, args)  # must never raise
        assert isinstance(obs, str)
        if obs.startswith("Error:"):
            assert env.hash() == before_hash
            assert env.state.changes() == before_changes
    # the shared base is never mutated by any copy
    env.base._sum = None
    assert env.base.canonical_sum() == base_sum


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_notes_env_calls_never_raise_or_half_apply(data):
    _check_calls(NOTES, data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_builtin_domains_calls_never_raise_or_half_apply(data):
    names = available()
    if not names:
        return
    _check_calls(data.draw(st.sampled_from(names)), data)
