"""Resource names for the admin page, against MLflow's real stores on SQLite.

The tracking and registry stores are MLflow's own SQLAlchemy stores on a temporary
database (the same classes ``mlflow server`` builds for a ``sqlite://`` backend), so
names, deletion, prompts-as-models, the filter grammar and workspace scoping are
MLflow's, not a fake's.
"""

import json
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from mlflow.exceptions import MlflowException
from mlflow.version import VERSION
from packaging.version import Version
from sqlalchemy import event

from mlflow_ldap_auth.mlflow_compat import resource_names
from mlflow_ldap_auth.mlflow_compat.resource_names import ResourceLabel, ResourceNames

KEK = "resource-names-test-passphrase"


def error_code(excinfo) -> str:
    return excinfo.value.error_code


def _stores(tmp_path_factory, name, workspaces=False):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_CRYPTO_KEK_PASSPHRASE", KEK)
        directory = tmp_path_factory.mktemp(name)
        uri = f"sqlite:///{directory}/mlflow.db"
        if workspaces:
            env.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
            from mlflow.store.model_registry.sqlalchemy_workspace_store import (
                WorkspaceAwareSqlAlchemyStore as Registry,
            )
            from mlflow.store.tracking.sqlalchemy_workspace_store import (
                WorkspaceAwareSqlAlchemyStore as Tracking,
            )
        else:
            from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Registry
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as Tracking
        tracking = Tracking(uri, str(directory / "artifacts"))
        registry = Registry(uri)
    return uri, tracking, registry


class World:
    """One database with a bit of everything; ids recorded as MLflow gave them."""

    def __init__(self, tracking, registry):
        self.tracking = tracking
        self.registry = registry
        self.names = ResourceNames(lambda: tracking, lambda: registry)
        t, r = tracking, registry
        self.fraud = t.create_experiment("Fraud-Detection")
        self.fraud_v2 = t.create_experiment("fraud_v2")
        self.fraud_x = t.create_experiment("fraudXv2")
        self.percent = t.create_experiment("100% real")
        self.percent_not = t.create_experiment("100 percent")
        self.quote = t.create_experiment("it's")
        self.dquote = t.create_experiment('say "hi"')
        self.backslash = t.create_experiment("back\\slash")
        self.backslash_not = t.create_experiment("backXslash")
        self.old = t.create_experiment("old-experiment")
        t.delete_experiment(self.old)
        # An experiment *named* like another experiment's id (see resolve).
        self.named_like_id = t.create_experiment(self.fraud)
        self.digits_name = t.create_experiment("987654")
        for name in ("churn-model", "summary-model", "it's a model", 'say "model"'):
            r.create_registered_model(name)
        for name in ("summary-prompt", "churn-prompt"):
            r.create_prompt(name)
        self.secret = t.create_gateway_secret(
            "openai-key", {"api_key": "sk-test"}, provider="openai"
        ).secret_id
        self.model_definition = t.create_gateway_model_definition(
            "gpt-main", self.secret, "openai", "gpt-4o"
        ).model_definition_id
        from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType

        config = GatewayEndpointModelConfig(
            model_definition_id=self.model_definition,
            linkage_type=GatewayModelLinkageType.PRIMARY,
        )
        self.endpoint = t.create_gateway_endpoint("chat", [config]).endpoint_id
        self.mcp = t.create_mcp_server("com.example/search-server").name
        t.register_scorer(self.fraud, "polite / kind", json.dumps(_guidelines_scorer()))


def _guidelines_scorer():
    from mlflow.genai.scorers import Guidelines

    return Guidelines(name="polite / kind", guidelines=["be polite"]).model_dump()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    _, tracking, registry = _stores(tmp_path_factory, "world")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_CRYPTO_KEK_PASSPHRASE", KEK)
        return World(tracking, registry)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """2,000 experiments (100 of them deleted) and 300 registered models."""
    _, tracking, registry = _stores(tmp_path_factory, "many")
    # MLflow's own rows, written in one transaction (create_experiment commits each one,
    # which would make this fixture take seconds); deletion is MLflow's lifecycle stage.
    from mlflow.store.model_registry.dbmodels.models import SqlRegisteredModel
    from mlflow.store.tracking.dbmodels.models import SqlExperiment

    rows = [
        SqlExperiment(name=f"exp-{n:04d}", lifecycle_stage="deleted" if n % 20 == 0 else "active")
        for n in range(2000)
    ]
    with tracking.ManagedSessionMaker(read_only=False) as session:
        session.add_all(rows)
        session.flush()
        ids = [str(row.experiment_id) for row in rows]
    models = [f"model-{n:03d}" for n in range(300)]
    with registry.ManagedSessionMaker(read_only=False) as session:
        session.add_all([SqlRegisteredModel(name=name) for name in models])
    assert tracking.get_experiment(ids[1]).name == "exp-0001"
    assert registry.get_registered_model("model-001").name == "model-001"
    return tracking, registry, ids, models


@contextmanager
def counted_queries(*stores):
    """The number of SQL statements the stores' engines run inside the block."""
    counter = {"n": 0}

    def count(*_args):
        counter["n"] += 1

    engines = {id(store.engine): store.engine for store in stores}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


# -- labels ---------------------------------------------------------------------------
def test_experiment_labels_ids_wildcard_deleted_missing(world):
    names = world.names
    assert names.label("experiment", world.fraud) == ResourceLabel(
        "experiment", world.fraud, "Fraud-Detection", True, "default"
    )
    assert names.label("experiment", world.fraud).text == "Fraud-Detection"
    deleted = names.label("experiment", world.old)
    assert (deleted.name, deleted.exists, deleted.text) == (
        "old-experiment",
        False,
        "old-experiment (deleted)",
    )
    for missing in ("99999", "not-an-id", "0" + world.fraud, "9" * 40, ""):
        label = names.label("experiment", missing)
        assert (label.name, label.exists, label.text) == (None, False, "deleted"), missing
    everything = names.label("experiment", "*")
    assert (everything.name, everything.exists, everything.text) == (
        None,
        True,
        "all experiments",
    )
    assert names.label("experiment", "0").name == "Default"


def test_model_and_prompt_labels_keep_the_two_apart(world):
    names = world.names
    assert names.label("registered_model", "churn-model").text == "churn-model"
    assert names.label("prompt", "churn-prompt").exists is True
    # A registered_model grant naming a prompt (or the other way round) applies to nothing.
    assert names.label("registered_model", "churn-prompt").exists is False
    assert names.label("prompt", "churn-model").exists is False
    assert names.label("registered_model", "gone-model").text == "deleted"
    # Names the filter grammar cannot quote are still found, exactly.
    assert names.label("registered_model", "it's a model").exists is True
    assert names.label("registered_model", 'say "model"').exists is True
    assert names.label("registered_model", "it_s a model").exists is False
    assert names.label("registered_model", "it's a mode").exists is False
    assert names.label("prompt", "*").text == "all prompts"


def test_gateway_mcp_and_scorer_labels(world):
    names = world.names
    assert names.label("gateway_secret", world.secret).name == "openai-key"
    assert names.label("gateway_model_definition", world.model_definition).name == "gpt-main"
    assert names.label("gateway_endpoint", world.endpoint).name == "chat"
    assert names.label("gateway_endpoint", "e-0000").text == "deleted"
    assert names.label("mcp_server", world.mcp).exists is True
    assert names.label("mcp_server", "com.example/gone").exists is False
    scorer = names.label("scorer", f"{world.fraud}/polite%20%2F%20kind")
    assert (scorer.name, scorer.exists) == ("polite / kind", True)
    assert names.label("scorer", f"{world.fraud}/rude").exists is False
    assert names.label("scorer", f"{world.old}/polite%20%2F%20kind").exists is False
    assert names.label("scorer", "no-slash").exists is False


def test_types_without_names_exist_with_no_name(world):
    for resource_type, pattern in (("workspace", "*"), ("run", "*"), ("no_such_type", "x")):
        label = world.names.label(resource_type, pattern)
        assert (label.name, label.exists) == (None, True)
    assert world.names.label("workspace", "*").text == "the whole workspace"


def test_labels_answers_every_item_once_keyed_by_the_triple(world):
    items = [
        ("experiment", world.fraud, "default"),
        ("experiment", world.fraud, "default"),
        ("registered_model", "churn-model", "default"),
        ("prompt", "*", "default"),
    ]
    answer = world.names.labels(items)
    assert set(answer) == set(items)
    assert all(label.key == key for key, label in answer.items())


def test_a_failing_store_leaves_exists_unknown_and_the_rest_labelled(world, caplog):
    def broken():
        raise MlflowException("database is down")

    names = ResourceNames(broken, lambda: world.registry)
    answer = names.labels(
        [
            ("experiment", world.fraud, "default"),
            ("experiment", "*", "default"),
            ("registered_model", "churn-model", "default"),
        ]
    )
    failed = answer[("experiment", world.fraud, "default")]
    assert (failed.name, failed.exists, failed.text) == (None, None, "unknown")
    assert answer[("experiment", "*", "default")].exists is True
    assert answer[("registered_model", "churn-model", "default")].exists is True
    assert "Could not look up" in caplog.text


def test_batched_labels_use_a_bounded_number_of_queries(many):
    tracking, registry, ids, models = many
    names = ResourceNames(lambda: tracking, lambda: registry)

    def queries_for(count):
        items = [("experiment", i, "default") for i in ids[:count]]
        items += [("registered_model", m, "default") for m in models[:count]]
        with counted_queries(tracking, registry) as queries:
            answer = names.labels(items)
        assert len(answer) == 2 * count
        assert all(label.exists is not None for label in answer.values())
        return queries["n"], answer

    few, _ = queries_for(3)
    queries, answer = queries_for(300)
    # One search of experiments and one of models (each: the rows, their tags, the
    # models' latest versions), whatever the number of resources.
    assert queries == few, (queries, few)
    assert queries <= 12, queries
    assert answer[("experiment", ids[0], "default")].text == "exp-0000 (deleted)"
    assert answer[("experiment", ids[1], "default")].text == "exp-0001"


def test_two_thousand_experiment_labels_render_quickly(many):
    tracking, registry, ids, _ = many
    names = ResourceNames(lambda: tracking, lambda: registry)
    items = [("experiment", i, "default") for i in ids]
    names.labels(items[:10])  # warm up (first statement compilation)
    # The CPU time this thread spends (SQLite runs in it): the work the lookup does, not
    # how much of the machine the other processes of a busy run left it.
    started = time.thread_time()
    answer = names.labels(items)
    elapsed = time.thread_time() - started
    assert sum(label.exists is True for label in answer.values()) == 1900
    assert sum(label.exists is False for label in answer.values()) == 100
    assert elapsed < 1.5, elapsed  # about 0.2 s on a developer machine


# -- search ---------------------------------------------------------------------------
def patterns(labels):
    return [label.pattern for label in labels]


def test_search_is_a_case_insensitive_substring_search(world):
    found = world.names.search("experiment", "FRAUD")
    assert [label.name for label in found] == ["Fraud-Detection", "fraudXv2", "fraud_v2"]
    assert patterns(found) == [world.fraud, world.fraud_x, world.fraud_v2]
    assert all(label.exists for label in found)


def test_search_text_is_not_a_pattern(world):
    search = world.names.search
    assert patterns(search("experiment", "_v2")) == [world.fraud_v2]
    assert patterns(search("experiment", "100%")) == [world.percent]
    assert patterns(search("experiment", "%")) == [world.percent]
    assert patterns(search("experiment", "'")) == [world.quote]
    assert patterns(search("experiment", '"hi"')) == [world.dquote]
    assert patterns(search("experiment", "\\")) == [world.backslash]
    assert patterns(search("experiment", "k\\s")) == [world.backslash]
    assert patterns(search("registered_model", "'s a")) == ["it's a model"]
    assert patterns(search("registered_model", '"model"')) == ['say "model"']


@pytest.mark.parametrize(
    "query",
    ["' OR name LIKE '%", "') OR (1=1", "x' AND tags.a = 'b", '"', "--", "/*", ";", "\\'", "`"],
)
def test_search_text_cannot_break_or_widen_the_filter(world, query):
    for resource_type in ("experiment", "registered_model", "prompt"):
        found = world.names.search(resource_type, query)
        assert all(query.casefold() in label.name.casefold() for label in found)


def test_search_keeps_models_and_prompts_apart_and_skips_deleted(world):
    assert patterns(world.names.search("registered_model", "summary")) == ["summary-model"]
    assert patterns(world.names.search("prompt", "summary")) == ["summary-prompt"]
    assert patterns(world.names.search("prompt", "churn")) == ["churn-prompt"]
    assert world.names.search("experiment", "old-experiment") == []


def test_search_limit_and_order(world):
    assert [label.name for label in world.names.search("experiment", "fraud", limit=2)] == [
        "Fraud-Detection",
        "fraudXv2",
    ]
    assert world.names.search("experiment", "fraud", limit=0) == []
    assert len(world.names.search("experiment", "", limit=3)) == 3


def test_search_gateway_and_mcp_by_name(world):
    assert patterns(world.names.search("gateway_secret", "OPENAI")) == [world.secret]
    assert patterns(world.names.search("gateway_endpoint", "cha")) == [world.endpoint]
    assert patterns(world.names.search("gateway_model_definition", "gpt")) == [
        world.model_definition
    ]
    assert patterns(world.names.search("mcp_server", "search")) == [world.mcp]


def test_search_of_a_type_without_names_is_refused(world):
    with pytest.raises(MlflowException) as excinfo:
        world.names.search("run", "x")
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"


def test_search_widened_by_wildcards_pages_until_the_limit(many):
    tracking, registry, _, _ = many
    names = ResourceNames(lambda: tracking, lambda: registry)
    # "_" in the text is any character for the store: all 300 models ("model-...") match
    # the SQL and none the text, so the store is read page by page (200 a page).
    with counted_queries(registry) as one_page:
        registry.search_registered_models(max_results=200)
    with counted_queries(registry) as queries:
        assert names.search("registered_model", "l_") == []
    assert queries["n"] == 2 * one_page["n"], (queries["n"], one_page["n"])
    assert patterns(names.search("registered_model", "_2", limit=3)) == []
    assert patterns(names.search("registered_model", "model-29", limit=3)) == [
        "model-290",
        "model-291",
        "model-292",
    ]


# -- resolve --------------------------------------------------------------------------
def test_resolve_experiment_names_to_ids(world):
    resolve = world.names.resolve
    assert resolve("experiment", "Fraud-Detection") == world.fraud
    assert resolve("experiment", world.fraud_v2) == world.fraud_v2
    assert resolve("experiment", "*") == "*"
    assert resolve("experiment", "old-experiment") == world.old  # deleted, restorable
    # An all-digit name that is no experiment's id is a name.
    assert resolve("experiment", "987654") == world.digits_name


def test_resolve_prefers_an_id_over_another_experiments_name(world):
    # world.named_like_id is an experiment *named* str(world.fraud).
    assert world.names.resolve("experiment", world.fraud) == world.fraud
    assert world.names.label("experiment", world.named_like_id).name == world.fraud


def test_resolve_missing_is_resource_does_not_exist(world):
    cases = [
        ("experiment", "no such experiment"),
        ("experiment", "99999"),
        ("registered_model", "no-such-model"),
        ("registered_model", "churn-prompt"),  # a prompt is no registered model
        ("prompt", "churn-model"),
        ("gateway_secret", "no-such-secret"),
        ("mcp_server", "com.example/gone"),
    ]
    for resource_type, text in cases:
        with pytest.raises(MlflowException) as excinfo:
            world.names.resolve(resource_type, text)
        assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST", (resource_type, text)


def test_resolve_models_prompts_gateway_and_other_types(world):
    resolve = world.names.resolve
    assert resolve("registered_model", "it's a model") == "it's a model"
    assert resolve("prompt", "summary-prompt") == "summary-prompt"
    assert resolve("gateway_secret", "openai-key") == world.secret
    assert resolve("gateway_secret", world.secret) == world.secret
    assert resolve("gateway_endpoint", "chat") == world.endpoint
    assert resolve("mcp_server", world.mcp) == world.mcp
    assert resolve("scorer", "1/x") == "1/x"
    assert resolve("run", "*") == "*"


# -- workspaces -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def workspace_stores(tmp_path_factory):
    uri, tracking, registry = _stores(tmp_path_factory, "workspaces", workspaces=True)
    from mlflow.entities.workspace import Workspace
    from mlflow.store.workspace.sqlalchemy_store import SqlAlchemyStore as WorkspaceStore
    from mlflow.utils.workspace_context import ServerWorkspaceContext

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
        WorkspaceStore(uri).create_workspace(Workspace(name="team-a"))
        ids = {}
        for workspace in ("default", "team-a"):
            with ServerWorkspaceContext(workspace):
                ids[workspace] = tracking.create_experiment("shared-name")
                registry.create_registered_model(f"{workspace}-model")
    return tracking, registry, ids


@pytest.fixture
def workspaces_on(monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")


def test_each_call_sees_the_given_workspace(workspace_stores, workspaces_on):
    tracking, registry, ids = workspace_stores
    names = ResourceNames(lambda: tracking, lambda: registry)
    default_id, team_id = ids["default"], ids["team-a"]
    assert default_id != team_id
    answer = names.labels(
        [
            ("experiment", team_id, "team-a"),
            ("experiment", team_id, "default"),
            ("registered_model", "team-a-model", "team-a"),
            ("registered_model", "team-a-model", "default"),
        ]
    )
    assert answer[("experiment", team_id, "team-a")].name == "shared-name"
    assert answer[("experiment", team_id, "default")].exists is False
    assert answer[("registered_model", "team-a-model", "team-a")].exists is True
    assert answer[("registered_model", "team-a-model", "default")].exists is False
    assert names.resolve("experiment", "shared-name", "team-a") == team_id
    assert names.resolve("experiment", "shared-name") == default_id
    assert patterns(names.search("registered_model", "model", workspace="team-a")) == [
        "team-a-model"
    ]
    with pytest.raises(MlflowException) as excinfo:
        names.resolve("registered_model", "team-a-model", "default")
    assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
    assert "workspace 'default'" in str(excinfo.value)


def test_a_workspace_that_does_not_exist_has_no_resources(workspace_stores, workspaces_on):
    tracking, registry, ids = workspace_stores
    names = ResourceNames(lambda: tracking, lambda: registry)
    assert names.label("experiment", ids["team-a"], "team-b").exists is False
    assert names.label("experiment", ids["team-a"], "Not A Valid Name!").exists is None


# -- skills (MLflow 3.18) -------------------------------------------------------------
needs_skills = pytest.mark.skipif(
    Version(VERSION) < Version("3.18"),
    reason=f"MLflow {VERSION} has no skills: the Skill Registry came with MLflow 3.18",
)


@pytest.fixture(scope="module")
def skill_names(tmp_path_factory):
    _, tracking, registry = _stores(tmp_path_factory, "skills")
    for organization, name in (("", "myskill"), ("acme", "summarise"), ("acme", "translate")):
        tracking.create_skill(name, organization=organization)
    tracking.create_skill("acme-tool", organization="tools")
    return ResourceNames(lambda: tracking, lambda: registry)


@needs_skills
def test_skill_labels_by_mlflows_key(skill_names):
    answer = skill_names.labels(
        [
            ("skill", key, "default")
            for key in ("myskill", "@acme/summarise", "@acme/gone", "summarise", "@acme", "*")
        ]
    )
    found = {key[1]: (label.name, label.exists) for key, label in answer.items()}
    assert found == {
        "myskill": ("myskill", True),
        "@acme/summarise": ("@acme/summarise", True),
        "@acme/gone": (None, False),
        "summarise": (None, False),  # that name is taken only inside an organization
        "@acme": (None, False),  # no key of a skill
        "*": (None, True),
    }
    assert skill_names.label("skill", "*").text == "all skills"


@needs_skills
def test_skills_are_searched_by_name_and_organization(skill_names):
    assert patterns(skill_names.search("skill", "ACME")) == [
        "@acme/summarise",
        "@acme/translate",
        "@tools/acme-tool",
    ]
    assert patterns(skill_names.search("skill", "skill")) == ["myskill"]
    assert patterns(skill_names.search("skill", "/t")) == ["@acme/translate"]
    assert patterns(skill_names.search("skill", "s/")) == ["@tools/acme-tool"]
    assert patterns(skill_names.search("skill", "", limit=2)) == [
        "@acme/summarise",
        "@acme/translate",
    ]
    assert skill_names.search("skill", "nothing-like-it") == []


@needs_skills
def test_resolve_a_skill_as_mlflow_keys_it(skill_names):
    assert skill_names.resolve("skill", "myskill") == "myskill"
    assert skill_names.resolve("skill", "@acme/translate") == "@acme/translate"
    with pytest.raises(MlflowException) as excinfo:
        skill_names.resolve("skill", "@acme/gone")
    assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
    assert str(excinfo.value.message) == "No skill '@acme/gone'."
    for malformed in ("@acme", "a/b", "Summarise"):
        with pytest.raises(MlflowException) as excinfo:
            skill_names.resolve("skill", malformed)
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"


@needs_skills
def test_skills_are_seen_in_their_own_workspace(workspace_stores, workspaces_on):
    tracking, registry, _ = workspace_stores
    from mlflow.utils.workspace_context import ServerWorkspaceContext

    with ServerWorkspaceContext("team-a"):
        tracking.create_skill("team-skill", organization="team")
    names = ResourceNames(lambda: tracking, lambda: registry)
    assert names.label("skill", "@team/team-skill", "team-a").exists is True
    assert names.label("skill", "@team/team-skill", "default").exists is False
    assert patterns(names.search("skill", "team", workspace="team-a")) == ["@team/team-skill"]
    assert names.search("skill", "team", workspace="default") == []
    assert names.resolve("skill", "@team/team-skill", "team-a") == "@team/team-skill"
    with pytest.raises(MlflowException) as excinfo:
        names.resolve("skill", "@team/team-skill", "default")
    assert "workspace 'default'" in str(excinfo.value)


# -- the module itself ----------------------------------------------------------------
def test_filter_literals_carry_no_quotes_or_backslashes():
    from mlflow_ldap_auth.mlflow_compat import resource_types

    literal = resource_types.filter_literal("a'b\"c\\d%e_f")
    assert literal == "'a_b_c_d%e_f'"


def test_the_mlflow_facts_the_module_relies_on():
    """Constants and filter-grammar facts the module writes down instead of importing."""
    from mlflow.prompt.constants import IS_PROMPT_TAG_KEY
    from mlflow.utils.search_utils import SearchExperimentsUtils, SearchModelUtils
    from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

    from mlflow_ldap_auth.mlflow_compat import resource_types

    assert resource_names.DEFAULT_WORKSPACE == DEFAULT_WORKSPACE_NAME
    assert f"`{IS_PROMPT_TAG_KEY}` = 'true'" in resource_types.PROMPT_FILTER
    assert "experiment_id" in SearchExperimentsUtils.LIST_SUPPORTED_KEYS
    assert "name" in SearchModelUtils.LIST_SUPPORTED_KEYS


def test_a_model_list_the_grammar_refuses_is_asked_one_by_one(world, monkeypatch):
    registry = world.registry
    search = registry.search_registered_models

    def refuse_lists(filter_string=None, **kwargs):
        if " IN (" in (filter_string or ""):
            raise MlflowException("ill-formed list")
        return search(filter_string=filter_string, **kwargs)

    monkeypatch.setattr(registry, "search_registered_models", refuse_lists)
    answer = world.names.labels(
        [("registered_model", n, "default") for n in ("churn-model", "gone", "it's a model")]
    )
    assert [label.exists for label in answer.values()] == [True, False, True]


def test_import_and_default_stores_leave_mlflow_auth_alone(tmp_path):
    """Importing the module imports no MLflow server module; the default getters are
    the server's stores (mlflow.server.handlers, from the server's environment)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    script = f"""
import sys
from mlflow_ldap_auth.mlflow_compat.resource_names import ResourceNames
assert not [m for m in sys.modules if m.startswith("mlflow.server")], "imported a server module"
from mlflow.server import ARTIFACT_ROOT_ENV_VAR, BACKEND_STORE_URI_ENV_VAR
import os
os.environ[BACKEND_STORE_URI_ENV_VAR] = {uri!r}
os.environ[ARTIFACT_ROOT_ENV_VAR] = {str(tmp_path / "artifacts")!r}
label = ResourceNames().label("experiment", "0")
assert label.name == "Default", label
assert ResourceNames().label("registered_model", "x").exists is False
assert "mlflow.server.auth" not in sys.modules
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
