"""The restore probe acts only on this kit's restore-test copies (#20): a forged "Restore Job State
Change" event -- this plan's ARN, but a job AWS Backup never ran, "restored" into the live cluster --
is refused in one sentence, and nothing is done to the live cluster (no writer added, no login)."""

from __future__ import annotations

import json
import uuid

import pytest

from lib import output_keys as keys

# Against AWS: one invocation and a few reads.
pytestmark = pytest.mark.aws_minutes(1)


def test_a_forged_event_naming_the_live_cluster_is_refused(client, outputs, suffix) -> None:
    backup, rds = client("backup"), client("rds")
    (plan,) = [
        p["RestoreTestingPlanArn"]
        for p in backup.list_restore_testing_plans()["RestoreTestingPlans"]
        if p["RestoreTestingPlanName"].endswith(suffix.replace("-", "_"))
    ]
    identifier = outputs[keys.AURORA_CLUSTER_IDENTIFIER]
    (cluster,) = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    members = {m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]}
    job_id = str(uuid.uuid4()).upper()
    forged = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Restore Job State Change",
        "source": "aws.backup",
        "account": cluster["DBClusterArn"].split(":")[4],
        "region": cluster["DBClusterArn"].split(":")[3],
        "resources": [],
        "detail": {
            "restoreJobId": job_id,
            "status": "COMPLETED",
            "resourceType": "Aurora",
            "restoreTestingPlanArn": plan,
            "createdResourceArn": cluster["DBClusterArn"],
            "creationDate": "2026-12-05T05:00:00.000Z",
            "completionDate": "2026-12-05T05:30:00.000Z",
        },
    }

    answer = client("lambda").invoke(FunctionName=f"restore-validation-{suffix}", Payload=json.dumps(forged))

    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"ignored": f"AWS Backup has no restore job {job_id}"}
    (after,) = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    assert {m["DBInstanceIdentifier"] for m in after["DBClusterMembers"]} == members
