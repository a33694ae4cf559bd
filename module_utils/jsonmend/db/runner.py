# The one main() of the database modules: spec -> refuse bad input -> work -> exit_json, with the
# error handling every module needs (JsonmendError, driver and connection errors), so that a module's
# main() only names its spec, its messages and its work. Driver texts come through driver_message
# (no traceback, no connection parameters), and login_password is no_log in the spec.
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.jsonmend.db.connection import connect, driver_error_types, driver_message, missing_driver
from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from ansible.module_utils.jsonmend.db.connection import Database


def failed(what: str, text: str) -> str:
    """The usual failure text: '<what> failed: <why>'."""
    return "%s failed: %s" % (what, text)


def warn_all(module: AnsibleModule, warnings: Iterable[str]) -> None:
    """Pass the engine's warnings on to Ansible."""
    for warning in warnings:
        module.warn(warning)


@contextmanager
def connected(params: Mapping[str, Any], autocommit: bool = False) -> Iterator[Database]:
    """A connection closed however the work ends."""
    db = connect(params, autocommit=autocommit)
    try:
        yield db
    finally:
        db.close()


def run_module(
    argument_spec: dict[str, Any],
    work: Callable[[AnsibleModule], dict[str, Any]],
    *,
    what: Callable[[Mapping[str, Any]], str],
    sqlite_refusal: str | None = None,
    sqlite_ok: bool = False,
    validate: Callable[[Mapping[str, Any]], list[str]] | None = None,
    refusal: str = "",
    validate_first: bool = False,
    on_error: Callable[[str, JsonmendError, Mapping[str, Any]], str] | None = None,
    on_driver_error: Callable[[str, Exception, Mapping[str, Any]], str] | None = None,
    on_os_error: Callable[[str, OSError, Mapping[str, Any]], str] | None = None,
    **module_kwargs: Any,
) -> None:
    """Run one database module; work(module) returns exit_json's keyword arguments (with changed).

    what(params) names the attempt in every message ('backup of shop'). sqlite_refusal, when set, is
    why the module refuses dialect=sqlite; sqlite_ok says the module reads sqlite files (no driver
    needed then). validate(params) lists input problems, reported as refusal + '; '.join(problems)
    before any connection. The on_* hooks, called with (what, exception, params), shape the
    failure texts; by default '<what> failed: <why>'. An OSError without on_os_error propagates.
    """
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **module_kwargs)
    params = module.params
    label = what(params)
    if sqlite_refusal and params["dialect"] == "sqlite":
        module.fail_json(msg="%s refused: %s" % (label, sqlite_refusal))

    def refuse_input() -> None:
        problems = validate(params) if validate else []
        if problems:
            module.fail_json(msg=refusal + "; ".join(problems))

    if validate_first:
        refuse_input()
    missing = None if (sqlite_ok and params["dialect"] == "sqlite") else missing_driver(params["dialect"])
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]), exception=missing[1])
    if not validate_first:
        refuse_input()
    try:
        result = work(module)
    except JsonmendError as exc:
        module.fail_json(msg=on_error(label, exc, params) if on_error else failed(label, str(exc)))
    except driver_error_types() as exc:
        module.fail_json(msg=on_driver_error(label, exc, params) if on_driver_error else failed(label, driver_message(exc)))
    except OSError as exc:
        if on_os_error is None:
            raise
        module.fail_json(msg=on_os_error(label, exc, params))
    module.exit_json(**result)
