# Read what git and Django's manage.py print, as pure functions the deploy role can trust:
# which commit a ref names on the remote, which migrations are applied, planned or were applied.
from __future__ import annotations

import posixpath
import re

from ansible.errors import AnsibleFilterError

SHA_RE = re.compile(r"[0-9a-f]{40}")
# "  Applying analytics.0002_activityevent_metadata_object... OK"
APPLYING_RE = re.compile(r"^\s*Applying (\w+)\.(\w+)\.\.\.", re.MULTILINE)
# "  Unapplying analytics.0002_activityevent_metadata_object... OK"
UNAPPLYING_RE = re.compile(r"^\s*Unapplying (\w+)\.(\w+)\.\.\.", re.MULTILINE)
# migrate --plan: "analytics.0002_activityevent_metadata_object" (its operations are indented)
PLANNED_RE = re.compile(r"^(\w+)\.(\w+)\s*$", re.MULTILINE)
# showmigrations --list: " [X] 0001_initial" under a line naming the app
SHOWN_RE = re.compile(r"^ \[( |X|-)\] (\w+)")


def _text(value, what):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AnsibleFilterError("%s must be text, got %s" % (what, type(value).__name__))
    return value


def remote_ref(ls_remote, version):
    """The commit `version` names in `git ls-remote` output, or '' when it names none.

    A branch wins over a tag of the same name, as with `git pull origin <version>`; an
    annotated tag resolves to its commit (the `^{}` line); a full sha is returned as is.
    """
    version = _text(version, "version").strip()
    if SHA_RE.fullmatch(version):
        return version
    refs = {}
    for line in _text(ls_remote, "ls-remote output").splitlines():
        parts = line.split()
        if len(parts) == 2 and SHA_RE.fullmatch(parts[0]):
            refs[parts[1]] = parts[0]
    for name in ("refs/heads/%s" % version, "refs/tags/%s^{}" % version, "refs/tags/%s" % version, version):
        if name in refs:
            return refs[name]
    return ""


def migration_leaves(showmigrations):
    """{app label: name of its last applied migration, or 'zero'} from `showmigrations --list`."""
    leaves, app = {}, None
    for line in _text(showmigrations, "showmigrations output").splitlines():
        if line and not line.startswith(" "):
            app = line.strip()
            leaves[app] = "zero"
            continue
        match = SHOWN_RE.match(line)
        if match and app and match.group(1) == "X":
            leaves[app] = match.group(2)
    return leaves


def applied_migrations(migrate_output):
    """['app.name', ...] that `manage.py migrate` says it applied, in order."""
    return ["%s.%s" % m for m in APPLYING_RE.findall(_text(migrate_output, "migrate output"))]


def unapplied_migrations(migrate_output):
    """['app.name', ...] that `manage.py migrate <app> <target>` says it unapplied."""
    return ["%s.%s" % m for m in UNAPPLYING_RE.findall(_text(migrate_output, "migrate output"))]


def planned_migrations(migrate_plan):
    """['app.name', ...] that `manage.py migrate --plan` would apply ([] for 'No planned migration operations')."""
    return ["%s.%s" % m for m in PLANNED_RE.findall(_text(migrate_plan, "migrate --plan output"))]


def migration_rollback_targets(applied, leaves):
    """[{app, target}] to undo `applied` ('app.name' list): each app back to its leaf before the deploy."""
    if not isinstance(leaves, dict):
        raise AnsibleFilterError("leaves must be a mapping of app label to migration name")
    targets, seen = [], set()
    for item in applied or []:
        app = str(item).split(".", 1)[0]
        if app not in seen:
            seen.add(app)
            targets.append({"app": app, "target": leaves.get(app, "zero")})
    return targets


def path_within(path, directories):
    """True when `path` is absolute, has no '..' and lies inside one of `directories`.

    Pure text: a typo'd or relative path is refused before anything is created or deleted.
    """
    if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/"):
        return False
    if isinstance(directories, str) or not isinstance(directories, (list, tuple)):
        raise AnsibleFilterError("directories must be a list of absolute paths, got %r" % (directories,))
    path = posixpath.normpath(path)
    for directory in directories:
        if not isinstance(directory, str) or not directory.startswith("/"):
            raise AnsibleFilterError("allowed directory %r is not an absolute path" % (directory,))
        directory = posixpath.normpath(directory)
        if directory != "/" and path.startswith(directory + "/") or directory == "/" and path != "/":
            return True
    return False


class FilterModule:
    """jsonmend deploy filters."""

    def filters(self):
        return {
            "jsonmend_remote_ref": remote_ref,
            "jsonmend_migration_leaves": migration_leaves,
            "jsonmend_applied_migrations": applied_migrations,
            "jsonmend_unapplied_migrations": unapplied_migrations,
            "jsonmend_planned_migrations": planned_migrations,
            "jsonmend_migration_rollback_targets": migration_rollback_targets,
            "jsonmend_path_within": path_within,
        }
