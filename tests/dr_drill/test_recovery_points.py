"""Recovery-point and selection listing read every page (botocore Stubber: no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from tools.dr_drill.errors import SetupError
from tools.dr_drill.recovery_points import RecoveryPoint, newest_completed, protected_resources

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/dynamodb-table-dev"
POINT = "arn:aws:backup:us-east-1:123456789012:recovery-point:"


def point(name: str, hour: int, status: str = "COMPLETED") -> dict[str, object]:
    return {
        "RecoveryPointArn": POINT + name,
        "CreationDate": datetime(2030, 1, 1, hour, tzinfo=UTC),
        "Status": status,
        "ResourceArn": TABLE,
    }


@pytest.fixture
def backup():
    client = boto3.client("backup", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_the_newest_completed_point_is_found_on_any_page(backup):
    client, stubber = backup
    listing = {"BackupVaultName": "vault", "ByResourceArn": TABLE}
    stubber.add_response(
        "list_recovery_points_by_backup_vault",
        {"RecoveryPoints": [point("a", 9), point("b", 3)], "NextToken": "page-2"},
        listing,
    )
    stubber.add_response(
        "list_recovery_points_by_backup_vault",
        {"RecoveryPoints": [point("c", 11), point("d", 12, "PARTIAL"), point("e", 13, "CREATING")]},
        {**listing, "NextToken": "page-2"},
    )

    assert newest_completed(client, "vault", TABLE) == RecoveryPoint(
        POINT + "c", TABLE, "vault", datetime(2030, 1, 1, 11, tzinfo=UTC)
    )


def test_no_completed_point_is_none(backup):
    client, stubber = backup
    stubber.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": [point("x", 1, "EXPIRED")]})

    assert newest_completed(client, "vault", TABLE) is None


def test_a_missing_vault_is_a_setup_error(backup):
    client, stubber = backup
    stubber.add_client_error("list_recovery_points_by_backup_vault", "ResourceNotFoundException")

    with pytest.raises(SetupError, match=r"The backup vault vault does not exist; run `make deploy` first\."):
        newest_completed(client, "vault", TABLE)


def test_protected_resources_read_every_selection_page_once_each(backup):
    client, stubber = backup
    pages = [({"SelectionId": "one"}, {"NextToken": "2"}, {}), ({"SelectionId": "two"}, {}, {"NextToken": "2"})]
    resources = {"one": ["arn:aws:s3:::a", TABLE], "two": [TABLE, "arn:aws:s3:::b"]}
    for selection, more, token in pages:  # a page's selections are read before the next page is listed
        stubber.add_response(
            "list_backup_selections", {"BackupSelectionsList": [selection], **more}, {"BackupPlanId": "p", **token}
        )
        name = selection["SelectionId"]
        stubber.add_response(
            "get_backup_selection",
            {
                "BackupSelection": {
                    "SelectionName": name,
                    "IamRoleArn": "arn:aws:iam::1:role/r",
                    "Resources": resources[name],
                }
            },
            {"BackupPlanId": "p", "SelectionId": name},
        )

    assert protected_resources(client, "p") == ["arn:aws:s3:::a", TABLE, "arn:aws:s3:::b"]
