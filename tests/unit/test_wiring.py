"""One wiring root: outside the packages that define the services, only
``mlflow_ldap_auth/wiring.py`` builds them.

The server's app factory and the command line take their services from the same
factories there; a module that builds a service itself (a second object graph, with its
own idea of who is an admin or which caches to forget) fails here.
"""

import ast
from pathlib import Path

from package_source import PACKAGE_DIR

WIRING = PACKAGE_DIR / "wiring.py"
#: Where the services are defined; a service may build its own default collaborator.
SERVICE_PACKAGES = {
    "activity",
    "auth",
    "db",
    "kerberos",
    "ldap",
    "mappings",
    "sessions",
    "tokens",
}
#: What only ``wiring`` constructs (``start_activity`` starts the activity recorder).
SERVICES = {
    "AccessPolicy",
    "Admission",
    "ConfiguredGroups",
    "GroupSync",
    "LockoutGuard",
    "LoginService",
    "MappingService",
    "NegotiateAcceptor",
    "NegotiateAuthenticator",
    "PermissionCache",
    "Plugin",
    "Provisioner",
    "ResourceNames",
    "Revalidator",
    "SessionAuthenticator",
    "SessionService",
    "TokenAuthenticator",
    "TokenService",
    "WhoHasAccess",
    "start_activity",
}


def wiring_modules():
    """Every module outside the service packages, except ``wiring`` itself."""
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        inside = path.relative_to(PACKAGE_DIR).parts
        if path != WIRING and not (len(inside) > 1 and inside[0] in SERVICE_PACKAGES):
            yield path


def constructions(path: Path, tree: ast.AST) -> list[str]:
    found = []
    where = path.relative_to(PACKAGE_DIR.parent)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else None
            if isinstance(function, ast.Name):
                name = function.id
            if name in SERVICES:
                found.append(f"{where}:{node.lineno} builds {name}")
    return found


def parsed(path: Path) -> ast.AST:
    return ast.parse(path.read_text())


def test_only_the_wiring_module_builds_services():
    found = [line for path in wiring_modules() for line in constructions(path, parsed(path))]
    assert found == []


def test_the_wiring_module_builds_every_service_it_names():
    """A renamed service class would otherwise drop out of the check unnoticed."""
    built = {line.rsplit(" ", 1)[1] for line in constructions(WIRING, parsed(WIRING))}
    assert built == SERVICES


def test_the_check_finds_what_it_forbids():
    source = (
        "service = TokenService(store, 30, is_admin=lambda _: True, forget_cached=lambda: None)\n"
        "access = who_has_access.WhoHasAccess(store, service, directory, None, ldap, 'READ')\n"
        "activity = start_activity(engine, 30)\n"
        "engine = tables.create_engine(uri)\n"
    )
    found = constructions(PACKAGE_DIR / "cli.py", ast.parse(source))
    assert [line.split(" ", 1)[1] for line in found] == [
        "builds TokenService",
        "builds WhoHasAccess",
        "builds start_activity",
    ]


#: Where requests are handled: a handler asks the service it uses, never walks through
#: one service to another (``plugin.sync.policy.decide``).
HANDLER_DIRS = ("web", "mlflow_compat")
PLUGIN_NAMES = {"plugin", "service"}


def walks(path: Path, tree: ast.AST) -> list[str]:
    """Chains of three or more attributes off the plugin (``current_plugin()``, or a
    name ``plugin``/``service``). The settings are configuration, read where needed."""
    found, covered = [], set()
    where = path.relative_to(PACKAGE_DIR.parent)
    for node in ast.walk(tree):  # outer attributes first: each chain is seen whole once
        if id(node) in covered:
            continue
        chain, inner = [], node
        while isinstance(inner, ast.Attribute):
            covered.add(id(inner))
            chain.append(inner.attr)
            inner = inner.value
        chain.reverse()
        from_plugin = (isinstance(inner, ast.Name) and inner.id in PLUGIN_NAMES) or (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Name)
            and inner.func.id == "current_plugin"
        )
        if from_plugin and len(chain) >= 3 and chain[0] != "settings":
            found.append(f"{where}:{node.lineno} walks {'.'.join(chain)}")
    return found


def handler_modules():
    for directory in HANDLER_DIRS:
        yield from sorted((PACKAGE_DIR / directory).rglob("*.py"))


def test_handlers_ask_the_service_they_use():
    found = [line for path in handler_modules() for line in walks(path, parsed(path))]
    assert found == []


def test_the_walk_check_finds_what_it_forbids():
    source = (
        "decision = service.sync.policy.decide(user)\n"
        "found = current_plugin().access.names.search(kind, text)\n"
        "days = current_plugin().settings.ldap.audit_retention_days\n"
        "record = plugin.token_service.visible(principal, token_id)\n"
        "cache = plugin.login_service.cache.entries.clear()\n"
    )
    found = walks(PACKAGE_DIR / "web" / "page.py", ast.parse(source))
    assert [line.split(" ", 1)[1] for line in found] == [
        "walks sync.policy.decide",
        "walks access.names.search",
        "walks login_service.cache.entries.clear",
    ]
