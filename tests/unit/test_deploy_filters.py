# What the deploy role reads from git and manage.py, and where a maintenance flag may live.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_deploy import (
    applied_migrations,
    migration_leaves,
    migration_rollback_targets,
    path_within,
    planned_migrations,
    remote_ref,
    unapplied_migrations,
)

A, B, C = "a" * 40, "b" * 40, "c" * 40
LS_REMOTE = "%s\trefs/heads/main\n%s\trefs/tags/v2\n%s\trefs/tags/v2^{}\n%s\trefs/heads/v2\n" % (A, B, C, A)


@pytest.mark.parametrize(
    ("version", "expected"),
    [("main", A), ("v2", A), (B, B), ("nope", ""), ("", "")],
    ids=["branch", "branch-beats-tag", "sha", "missing", "empty"],
)
def test_remote_ref(version, expected):
    assert remote_ref(LS_REMOTE, version) == expected


def test_annotated_tag_resolves_to_its_commit():
    assert remote_ref("%s\trefs/tags/v1\n%s\trefs/tags/v1^{}\n" % (B, C), "v1") == C


def test_migration_output_is_read():
    shown = "analytics\n [X] 0001_initial\n [ ] 0002_activityevent_metadata_object\nother\n (no migrations)\nempty\n [ ] 0001_x\n"
    assert migration_leaves(shown) == {"analytics": "0001_initial", "other": "zero", "empty": "zero"}
    plan = "Planned operations:\nanalytics.0002_activityevent_metadata_object\n    Alter field metadata on activityevent\n"
    assert planned_migrations(plan) == ["analytics.0002_activityevent_metadata_object"]
    assert planned_migrations("Planned operations:\n  No planned migration operations.\n") == []
    ran = "Running migrations:\n  Applying analytics.0002_activityevent_metadata_object... OK\n  Applying shop.0007_x... OK\n"
    assert applied_migrations(ran) == ["analytics.0002_activityevent_metadata_object", "shop.0007_x"]
    assert unapplied_migrations("  Unapplying analytics.0002_activityevent_metadata_object... OK\n") == ["analytics.0002_activityevent_metadata_object"]
    targets = migration_rollback_targets(["analytics.0002_a", "analytics.0003_b", "shop.0001_initial"], {"analytics": "0001_initial"})
    assert targets == [{"app": "analytics", "target": "0001_initial"}, {"app": "shop", "target": "zero"}]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/var/www/maintenance.flag", True),
        ("/var/www/site/maintenance.flag", True),
        ("/var/www", False),
        ("/var/wwwx/maintenance.flag", False),
        ("/var/www/../etc/passwd", False),
        ("var/www/maintenance.flag", False),
        ("/etc/maintenance.flag", False),
        ("", False),
        (None, False),
    ],
)
def test_flag_must_be_inside_an_allowed_directory(path, allowed):
    assert path_within(path, ["/var/www/", "/run/app"]) is allowed


def test_allowed_directories_must_be_absolute():
    with pytest.raises(AnsibleFilterError, match="not an absolute path"):
        path_within("/var/www/x", ["var/www"])
    with pytest.raises(AnsibleFilterError, match="list"):
        path_within("/var/www/x", "/var/www")
