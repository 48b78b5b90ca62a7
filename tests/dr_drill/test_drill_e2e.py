"""The drill end to end against the in-process emulator: restores validated and timed, reports written,
nothing left behind - after success, a dry run, and an interrupted drill alike."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tools.dr_drill import stores
from tools.dr_drill.functions import package_sha256
from tools.local_aws.clock import CLOCK
from tools.local_aws.leftovers import find_leftovers
from tools.local_aws.services.backup import jobs as backup_engine

from .deployment import Deployment, back_up, write_outputs

RESOURCE_TYPES = {"aurora": "Aurora", "dynamodb": "DynamoDB", "s3": "S3"}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def drill_leftovers(endpoint: str) -> list[str]:
    """What the emulator's leftover check lists that a drill created."""
    return [f"{item.kind} {item.identifier}" for item in find_leftovers(endpoint) if "drill-" in item.identifier]


def inventory(aws: Callable[[str], Any]) -> dict[str, Any]:
    """Everything a drill could create or start, to compare before and after a dry run."""
    return {
        "tables": aws("dynamodb").list_tables()["TableNames"],
        "buckets": [bucket["Name"] for bucket in aws("s3").list_buckets()["Buckets"]],
        "clusters": [c["DBClusterIdentifier"] for c in aws("rds").describe_db_clusters()["DBClusters"]],
        "instances": [i["DBInstanceIdentifier"] for i in aws("rds").describe_db_instances()["DBInstances"]],
        "restore_jobs": len(aws("backup").list_restore_jobs()["RestoreJobs"]),
        "functions": [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]],
    }


def delete_bucket(aws: Callable[[str], Any], bucket: str) -> None:
    s3 = aws("s3")
    versions = s3.list_object_versions(Bucket=bucket)
    for entry in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    s3.delete_bucket(Bucket=bucket)


def test_restore_of_every_store_is_validated_timed_reported_and_cleaned_up(deployment, endpoint, tmp_path):
    started, emulated = time.monotonic(), CLOCK.now()
    code, out, err = deployment.run("restore", report_dir=tmp_path)
    elapsed, emulated_elapsed = time.monotonic() - started, (CLOCK.now() - emulated).total_seconds()

    assert (code, err) == (0, ""), out
    report = json.loads((tmp_path / "latest-restore.json").read_text())
    assert report["outcome"] == "passed"
    assert [r["store"] for r in report["recoveries"]] == ["aurora", "dynamodb", "s3"]
    for recovery in report["recoveries"]:
        assert recovery["copy"].startswith(f"drill-{recovery['store']}-{deployment.suffix}-")
        assert recovery["method"] == "recovery point"
        assert recovery["newest_heartbeat"] == deployment.heartbeat
        drill_start = datetime.fromisoformat(report["now"])
        heartbeat_age = (drill_start - datetime.fromisoformat(deployment.heartbeat)).total_seconds()
        assert recovery["data_loss_s"] == pytest.approx(heartbeat_age, abs=1)  # against the target's clock
        assert recovery["requested_s"] <= recovery["restored_s"] <= recovery["validated_s"] <= emulated_elapsed
        # The drill waited on the emulator's clock: the restore took the emulated job's minutes, far
        # more than the seconds the test ran for.
        job_minutes = 1 + backup_engine.RESTORE_MINUTES[RESOURCE_TYPES[recovery["store"]]]
        assert recovery["restored_s"] - recovery["requested_s"] >= job_minutes * 60 > elapsed
        assert recovery["rto_met"] and recovery["rpo_met"] and recovery["passed"]
    aurora = report["recoveries"][0]["copy"]
    assert sorted(report["cleanup"]["deleted"]) == sorted(
        [f"Aurora cluster {aurora}", f"Aurora instance {aurora}-writer"]
        + [
            f"{kind} {r['copy']}"
            for kind, r in zip(("DynamoDB table", "S3 bucket"), report["recoveries"][1:], strict=True)
        ]
    )
    assert report["cleanup"]["left_behind"] == []
    html = (tmp_path / "latest-restore.html").read_text()
    assert "<svg" in html and "RTO 240 min" in html and "RPO 60 min" in html
    stamped = [p.name for p in tmp_path.iterdir() if not p.name.startswith("latest-")]
    assert len(stamped) == 2 and all(name.endswith(("-restore.json", "-restore.html")) for name in stamped)
    # The file name is stamped on the target's clock, as the report's own times are: it was written
    # after the drill started and after its emulated restore minutes, not at this machine's time.
    written_at = datetime.strptime(stamped[0].split("-")[0], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    assert drill_start + timedelta(minutes=job_minutes) <= written_at <= CLOCK.now()
    assert drill_leftovers(endpoint) == []


def test_a_dry_run_prints_the_requests_and_changes_nothing(deployment, aws, tmp_path):
    before = inventory(aws)

    code, out, err = deployment.run("restore", "--dry-run", report_dir=tmp_path / "reports")

    assert (code, err) == (0, "")
    assert inventory(aws) == before
    assert not (tmp_path / "reports").exists()
    assert "nothing is created, changed or written" in out
    assert out.count("backup start_restore_job") == 3
    assert '"targetTableName": "drill-dynamodb-' in out and '"NewBucket": "true"' in out
    assert f"create drill-aurora-{deployment.suffix}-" in out


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            ("restore", "--point-in-time", "2020-01-01T00:00:00Z", "--store", "aurora"),
            "rds restore_db_cluster_to_point_in_time",
        ),
        (("restore", "--point-in-time", "2020-01-01T00:00:00Z"), "dynamodb restore_table_to_point_in_time"),
        (("failover",), "rds failover_db_cluster DBClusterIdentifier=aurora-cluster-"),
        (("status",), "its age against the RPO (60 min)"),
    ],
)
def test_every_command_has_a_dry_run_that_changes_nothing(deployment, aws, tmp_path, command, expected):
    before = inventory(aws)

    code, out, err = deployment.run(*command, "--dry-run", report_dir=tmp_path / "reports")

    assert (code, err) == (0, "")
    assert expected in out and out.startswith("Dry run against the local emulator at http://127.0.0.1:")
    assert inventory(aws) == before and not (tmp_path / "reports").exists()


def test_an_interrupted_drill_deletes_what_it_created(deployment, endpoint, tmp_path, monkeypatch):
    """Ctrl-C while waiting for the Aurora copy: every restore has been started by then."""
    waited = []

    def interrupt(self: Any, identifier: str) -> tuple[str, bool]:
        waited.append(identifier)
        raise KeyboardInterrupt

    monkeypatch.setattr(stores.AuroraCluster, "_cluster_status", interrupt)

    code, out, _ = deployment.run("restore", report_dir=tmp_path)

    assert code == 130, out
    assert waited and waited[0].startswith("drill-aurora-")
    report = json.loads((tmp_path / "latest-restore.json").read_text())
    assert report["outcome"] == "interrupted"
    assert sorted(name.rsplit(" ", 1)[0] for name in report["cleanup"]["deleted"]) == [
        "Aurora cluster",
        "DynamoDB table",
        "S3 bucket",
    ]
    assert report["cleanup"]["left_behind"] == []
    assert drill_leftovers(endpoint) == []


def test_sigterm_ends_a_drill_like_ctrl_c(deployment, endpoint, tmp_path, monkeypatch):
    def terminated(self: Any, copy: str) -> tuple[str, bool]:
        os.kill(os.getpid(), signal.SIGTERM)
        return "CREATING", False

    monkeypatch.setattr(stores.DynamoDBTable, "_status", terminated)
    handler = signal.getsignal(signal.SIGTERM)

    code, out, _ = deployment.run("restore", "--store", "dynamodb", report_dir=tmp_path)

    assert code == 130, out
    assert json.loads((tmp_path / "latest-restore.json").read_text())["cleanup"]["deleted"][0].startswith(
        "DynamoDB table drill-dynamodb-"
    )
    assert drill_leftovers(endpoint) == []
    assert signal.getsignal(signal.SIGTERM) == handler


def test_keep_leaves_the_copy_and_says_how_to_delete_it(deployment, aws, endpoint, tmp_path):
    deployment.refresh(aws)
    code, out, _ = deployment.run("restore", "--store", "s3", "--keep", report_dir=tmp_path)

    assert code == 0, out
    (kept,) = json.loads((tmp_path / "latest-restore.json").read_text())["cleanup"]["kept"]
    assert kept["name"].startswith("drill-s3-") and "delete-bucket" in kept["delete_with"]
    assert f"kept      S3 bucket {kept['name']} at s3://{kept['name']}" in out
    assert aws("s3").get_object(Bucket=kept["name"], Key="heartbeat/latest.json")["Body"].read()
    delete_bucket(aws, kept["name"])


def test_point_in_time_restores_aurora_and_dynamodb_with_their_own_pitr(deployment, aws, endpoint, tmp_path):
    deployment.refresh(aws)
    when = CLOCK.now()  # after the heartbeats were written
    CLOCK.advance(timedelta(minutes=8))  # DynamoDB restores to at most five minutes ago

    code, out, _ = deployment.run("restore", "--point-in-time", when.isoformat(), report_dir=tmp_path)

    assert code == 0, out
    report = json.loads((tmp_path / "latest-restore.json").read_text())
    assert [(r["store"], r["method"]) for r in report["recoveries"]] == [
        ("aurora", "point in time"),
        ("dynamodb", "point in time"),
    ]
    assert all(r["newest_heartbeat"] == deployment.heartbeat for r in report["recoveries"])
    assert drill_leftovers(endpoint) == []


def test_status_shows_each_protected_resource_against_the_rpo_and_the_last_drill(deployment, aws, tmp_path):
    deployment.refresh(aws)
    (tmp_path / "latest-restore.json").write_text(
        json.dumps(
            {"now": "2030-01-01T00:00:00+00:00", "recoveries": [{"store": "s3", "passed": True, "restore_s": 2}]}
        )
    )

    code, out, _ = deployment.run("status", report_dir=tmp_path)

    assert code == 0, out
    report = json.loads((tmp_path / "latest-status.json").read_text())
    assert [r["store"] for r in report["resources"]] == ["aurora", "dynamodb", "s3"]
    assert all(r["within_rpo"] and r["age_s"] < 3600 for r in report["resources"])
    assert report["resources"][2]["last_drill"]["passed"] is True
    assert "passed 2030-01-01T00:00:00+00:00 (restore 2.0 s)" in out


def test_failover_moves_the_writer_and_measures_the_outage(deployment, aws, tmp_path):
    code, out, _ = deployment.run("failover", report_dir=tmp_path)

    assert code == 0, out
    report = json.loads((tmp_path / "latest-failover.json").read_text())
    assert (report["old_writer"], report["new_writer"]) == (
        f"aurora-writer-{deployment.suffix}",
        f"aurora-reader-{deployment.suffix}",
    )
    assert report["probes"] >= 1 and report["probe_log"][-1]["ok"]
    assert 0 <= report["unavailable_s"] < 60
    members = aws("rds").describe_db_clusters(DBClusterIdentifier=deployment.outputs["AuroraClusterIdentifier"])
    writer = [m for m in members["DBClusters"][0]["DBClusterMembers"] if m["IsClusterWriter"]]
    assert writer[0]["DBInstanceIdentifier"] == f"aurora-reader-{deployment.suffix}"


def test_a_store_without_a_recovery_point_is_refused_before_anything_is_created(deployment, aws, tmp_path, endpoint):
    outputs = {**deployment.outputs, "TableName": f"never-backed-up-{deployment.suffix}"}
    write_outputs(tmp_path / "outputs", outputs, endpoint)
    before = inventory(aws)
    lonely = Deployment(deployment.suffix, tmp_path / "outputs", outputs, deployment.heartbeat)

    code, _, err = lonely.run("restore", report_dir=tmp_path / "reports")

    assert code == 2
    assert err == (
        f"Error: The DynamoDB table never-backed-up-{deployment.suffix} has no completed recovery point in vault "
        f"backup-vault-{deployment.suffix}; run a backup first (`make tick MINUTES=60` on the emulator, an "
        "on-demand backup on AWS).\n"
    )
    assert inventory(aws) == before and not (tmp_path / "reports").exists()


def test_s3_has_no_point_in_time_restore(deployment, tmp_path):
    code, _, err = deployment.run(
        "restore", "--store", "s3", "--point-in-time", "2020-01-01T00:00:00Z", report_dir=tmp_path
    )

    assert code == 2
    assert err.startswith("Error: S3 has no point-in-time restore in this kit;")


def test_a_copy_without_the_heartbeat_fails_the_drill_with_exit_1(deployment, aws, endpoint, tmp_path):
    bucket = f"no-heartbeat-{deployment.suffix}"
    aws("s3").create_bucket(Bucket=bucket)
    aws("s3").put_object(Bucket=bucket, Key="orders/1.json", Body=b"{}")
    outputs = {**deployment.outputs, "BucketName": bucket}
    back_up(aws, outputs, [f"arn:aws:s3:::{bucket}"])
    write_outputs(tmp_path / "outputs", outputs, endpoint)
    drill = Deployment(deployment.suffix, tmp_path / "outputs", outputs, deployment.heartbeat)

    code, out, _ = drill.run("restore", "--store", "s3", report_dir=tmp_path)

    assert code == 1, out
    report = json.loads((tmp_path / "latest-restore.json").read_text())
    (recovery,) = report["recoveries"]
    assert recovery["error"] == f"bucket {recovery['copy']} holds no heartbeat/latest.json"
    assert (report["outcome"], recovery["passed"], report["cleanup"]["deleted"]) == (
        "failed",
        False,
        [f"S3 bucket {recovery['copy']}"],
    )
    assert drill_leftovers(endpoint) == []
    delete_bucket(aws, bucket)


@pytest.fixture(scope="module")
def exported_function(deployment: Deployment, aws: Callable[[str], Any]) -> Any:
    """A function's export in the data bucket, as lib/lambda/function_export writes it; the function
    itself does not exist (it is the one to recover)."""
    name = f"health-check-{deployment.suffix}"
    role = aws("iam").create_role(
        RoleName=f"function-role-{deployment.suffix}", AssumeRolePolicyDocument=json.dumps(TRUST)
    )
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {'ok': True}\n")
    configuration = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": role["Role"]["Arn"],
        "Handler": "index.handler",
        "Timeout": 30,
        "MemorySize": 256,
        "Description": "Data-plane canary",
        "Environment": {"Variables": {"TABLE_NAME": deployment.outputs["TableName"]}},
        "Architectures": ["x86_64"],
        "TracingConfig": {"Mode": "PassThrough"},
        "CodeSha256": package_sha256(package.getvalue()),
        "ExportedAt": "2030-01-01T00:00:00+00:00",
    }
    s3, bucket = aws("s3"), deployment.outputs["BucketName"]
    s3.put_object(Bucket=bucket, Key=f"lambda-exports/{name}/code.zip", Body=package.getvalue())
    s3.put_object(Bucket=bucket, Key=f"lambda-exports/{name}/configuration.json", Body=json.dumps(configuration))
    yield name
    for function in aws("lambda").list_functions()["Functions"]:
        if function["FunctionName"].startswith(name):
            aws("lambda").delete_function(FunctionName=function["FunctionName"])
    aws("iam").delete_role(RoleName=f"function-role-{deployment.suffix}")


def test_a_lost_function_is_recreated_from_its_export_and_kept(deployment, exported_function, aws, tmp_path):
    code, out, _ = deployment.run("restore", "--function", exported_function, report_dir=tmp_path)

    assert code == 0, out
    configuration = aws("lambda").get_function_configuration(FunctionName=exported_function)
    assert (configuration["Runtime"], configuration["Handler"], configuration["MemorySize"]) == (
        "python3.12",
        "index.handler",
        256,
    )
    assert configuration["Environment"]["Variables"] == {"TABLE_NAME": deployment.outputs["TableName"]}
    report = json.loads((tmp_path / "latest-restore.json").read_text())
    (recovery,) = report["recoveries"]
    assert (recovery["store"], recovery["method"], recovery["rpo_met"], recovery["passed"]) == (
        "function",
        "function export",
        None,
        True,
    )
    assert recovery["origin_time"] == "2030-01-01T00:00:00+00:00" and recovery["restore_s"] < 60
    assert report["cleanup"] == {"deleted": [], "kept": [], "left_behind": []}  # a recovery, not a drill copy


def test_an_existing_function_is_restored_only_beside_it_and_the_copy_removed(
    deployment, exported_function, aws, tmp_path
):
    if exported_function not in [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]]:
        deployment.run("restore", "--function", exported_function, report_dir=tmp_path)

    refused = deployment.run("restore", "--function", exported_function, report_dir=tmp_path)
    code, out, _ = deployment.run(
        "restore", "--function", exported_function, "--as", f"{exported_function}-drill", report_dir=tmp_path
    )

    assert refused[::2] == (
        2,
        f"Error: Function {exported_function} exists; restore a copy beside it with --as NEW_NAME.\n",
    )
    assert code == 0, out
    report = json.loads((tmp_path / "latest-restore.json").read_text())
    assert report["cleanup"]["deleted"] == [f"Lambda function {exported_function}-drill"]
    assert f"{exported_function}-drill" not in [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]]


def test_a_function_dry_run_shows_the_create_function_call(deployment, exported_function, aws, tmp_path):
    before = inventory(aws)

    code, out, _ = deployment.run(
        "restore", "--function", exported_function, "--as", "copy", "--dry-run", report_dir=tmp_path / "reports"
    )

    assert code == 0
    assert "lambda create_function" in out and '"ZipFile": "<' in out and "delete function copy" in out
    assert inventory(aws) == before and not (tmp_path / "reports").exists()


def test_an_export_whose_package_does_not_match_is_refused(deployment, exported_function, aws, tmp_path):
    bucket = deployment.outputs["BucketName"]
    aws("s3").put_object(Bucket=bucket, Key=f"lambda-exports/tampered-{deployment.suffix}/code.zip", Body=b"zip")
    aws("s3").put_object(
        Bucket=bucket,
        Key=f"lambda-exports/tampered-{deployment.suffix}/configuration.json",
        Body=json.dumps({"Runtime": "python3.12", "CodeSha256": "not-the-hash"}),
    )

    code, _, err = deployment.run("restore", "--function", f"tampered-{deployment.suffix}", report_dir=tmp_path)

    assert code == 2 and "does not match the CodeSha256 its configuration.json names" in err
