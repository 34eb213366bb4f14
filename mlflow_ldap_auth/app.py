"""``mlflow server --app-name ldap-auth``: the app factory MLflow's entry point names.

``create_app`` only wires: settings -> MLflow's auth engine -> one ``Plugin`` (directory,
login service, mappings, caches; built by ``wiring.build_plugin``, whose factories the
command line shares) -> route guards, in the order ``bridge.serve`` keeps.
MLflow imports this module once in the ``mlflow server`` process itself (to see whether
``create_app`` is a factory) before it starts any worker; that import runs
``preflight``, so an unsupported MLflow or a bad configuration stops the command with
one message instead of a loop of crashing workers.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys

from mlflow.exceptions import MlflowException

from mlflow_ldap_auth.config import Settings, load_settings
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.errors import ConfigError
from mlflow_ldap_auth.kerberos import negotiate
from mlflow_ldap_auth.kerberos.acceptor import KerberosSetupError
from mlflow_ldap_auth.mlflow_compat import after_request_routes, server_process
from mlflow_ldap_auth.mlflow_compat.bridge import import_mlflow_auth, serve
from mlflow_ldap_auth.mlflow_compat.version import UnsupportedMlflow, check_supported
from mlflow_ldap_auth.web import (
    activity_api,
    activity_pages,
    admin_guard,
    admin_ui,
    experiment_id_guard,
    local_accounts,
    mlflow_bar,
    negotiate_answers,
    provision_on_demand,
    rename_guard,
    rest_api,
    session_api,
    session_cookie,
    signin_pages,
    sync_hooks,
    token_api,
    token_pages,
    whoami_api,
)
from mlflow_ldap_auth.web.preauth import PreAuthMiddleware
from mlflow_ldap_auth.wiring import build_plugin

_logger = logging.getLogger(__name__)

SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"


def _configure_logging() -> None:
    """Our logs (and the JSON audit trail) to stderr, like MLflow's own, unless configured."""
    package_logger = logging.getLogger("mlflow_ldap_auth")
    if package_logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
    package_logger.propagate = False


def _settings_or_exit() -> Settings:
    """Supported MLflow, no credential path ahead of the plugin (``server_process``) and
    a valid configuration, or stop with one message."""
    try:
        check_supported()
        server_process.refuse_assistant_delegation(os.environ)
        settings = load_settings(environ=os.environ)
        # Kerberos's extra and keytab, checked before any worker starts.
        negotiate.service_principal(settings)
        return settings
    except (
        ConfigError,
        KerberosSetupError,
        UnsupportedMlflow,
        server_process.UnsafeMlflowSetting,
    ) as exc:
        raise SystemExit(str(exc)) from None


def _warn_about_settings(settings: Settings) -> None:
    if not settings.ldap.tls_verify:
        _logger.warning(
            "[ldap] tls_verify = false: the directory's certificate is NOT verified; "
            "anyone on the network path can read passwords."
        )


def create_app():
    """Configure MLflow's auth engine for LDAP logins and return the app to serve."""
    _configure_logging()
    settings = _settings_or_exit()
    _warn_about_settings(settings)
    auth = import_mlflow_auth(settings)

    plugin = build_plugin(settings, auth)
    flask_app = auth.app
    plugin.install(flask_app)
    plugin.revalidator.start()
    server_process.open_server_stores()

    def ahead_of_mlflow(app) -> None:
        sync_hooks.install(app)
        experiment_id_guard.install(app)
        session_cookie.install(app)
        admin_guard.install(app)
        signin_pages.install(app)
        provision_on_demand.install(app, plugin)
        rename_guard.install(app, plugin)
        mlflow_bar.install(app)  # before MLflow: its after_request hooks run ahead of this one
        negotiate_answers.install(app)
        # Under ``--static-prefix`` the plugin's pages and API move with MLflow's own
        # routes (``/mlflow/ldap-admin/``); the unprefixed paths answer nothing.
        prefix = server_process.static_prefix()
        for blueprint in (
            rest_api.blueprint,
            token_api.blueprint,
            session_api.blueprint,
            admin_ui.blueprint,
            token_pages.blueprint,
            activity_api.blueprint,
            activity_pages.blueprint,
            whoami_api.blueprint,
            signin_pages.blueprint,
        ):
            app.register_blueprint(blueprint, url_prefix=prefix + (blueprint.url_prefix or ""))

    def after_mlflow(app) -> None:
        after_request_routes.install(app, auth)
        if plugin.permission_cache is not None:
            plugin.permission_cache.install(plugin.store)
        local_accounts.install(app, plugin)

    return serve(
        auth,
        flask_app,
        ahead_of_mlflow=ahead_of_mlflow,
        after_mlflow=after_mlflow,
        asgi_middleware=experiment_id_guard.ahead_of(PreAuthMiddleware),
    )


def preflight() -> None:
    """Checks in the ``mlflow server`` process, before any worker starts.

    Checks the MLflow release and the configuration, supplies a CSRF secret when none is
    set (shared by the workers this process starts; set ``MLFLOW_FLASK_SERVER_SECRET_KEY``
    yourself when several servers sit behind one load balancer) and creates the
    break-glass admin.
    """
    settings = _settings_or_exit()
    _warn_about_settings(settings)
    if not os.environ.get(SECRET_KEY_ENV):
        os.environ[SECRET_KEY_ENV] = secrets.token_hex(32)
    auth = import_mlflow_auth(settings)

    try:
        auth.bootstrap_admin_user()
    except MlflowException as exc:
        raise SystemExit(
            f"mlflow-ldap-auth: {exc.message} (config file: {settings.path})"
        ) from None
    tables.migrate(tables.create_engine(settings.mlflow.database_uri))
    server_process.mark_admin_bootstrapped()


if server_process.is_mlflow_server_command():
    preflight()
