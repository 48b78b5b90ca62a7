"""Usage and setup errors: one sentence on stderr, exit code 2, nothing touched - no emulator needed."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest

from tools.dr_drill import cli

OUTPUTS = {"EnvironmentSuffix": "dev", "TableName": "dynamodb-table-dev", "BackupVaultName": "backup-vault-dev"}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(args), env=env or {}, out=out, err=err, sleep=lambda seconds: None)
    return code, out.getvalue(), err.getvalue()


def deployed(directory: Path, target: dict[str, str], outputs: dict[str, str] = OUTPUTS) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "flat-outputs.json").write_text(json.dumps(outputs))
    (directory / "target.json").write_text(json.dumps(target))
    return str(directory)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", ["restore", "failover", "status", "az-loss"])
def test_missing_outputs_say_to_deploy_first(tmp_path, command):
    code, out, err = run(command, "--outputs-dir", str(tmp_path), "--report-dir", str(tmp_path / "reports"))

    assert (code, out) == (2, "")
    assert err == (
        f"Error: {tmp_path / 'flat-outputs.json'} does not exist; run `make deploy` (local emulator) or "
        "`make deploy TARGET=aws` first.\n"
    )
    assert not (tmp_path / "reports").exists()


def test_outputs_that_are_not_json_say_to_deploy_again(tmp_path):
    (tmp_path / "flat-outputs.json").write_text("{not json")

    code, _, err = run("status", "--outputs-dir", str(tmp_path))

    assert code == 2 and err.startswith("Error: ") and "is not valid JSON" in err and "make deploy" in err
    assert err.count("\n") == 1


def test_an_unknown_store_is_one_sentence_and_exit_2(capsys):
    code, _, _ = run("restore", "--store", "redis")

    assert code == 2
    assert capsys.readouterr().err == (
        "Error: argument --store: invalid choice: 'redis' (choose from 'aurora', 'dynamodb', 's3'); "
        "see `python -m tools.dr_drill restore --help`.\n"
    )


def test_a_point_in_time_that_is_not_a_time_is_refused(capsys):
    assert run("restore", "--point-in-time", "yesterday")[0] == 2
    assert "is not an ISO 8601 time" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--as", "copy"], "Error: --as names the copy of a function; give --function NAME too.\n"),
        (
            ["--function", "fn", "--store", "s3"],
            "Error: --function restores a Lambda function; it does not combine with --store or --point-in-time.\n",
        ),
    ],
)
def test_options_that_do_not_go_together_are_refused(tmp_path, arguments, message):
    outputs = deployed(tmp_path, {"target": "aws"})

    assert run("restore", *arguments, "--outputs-dir", outputs)[::2] == (2, message)


def test_a_suffix_other_than_the_deployed_one_is_refused(tmp_path):
    outputs = deployed(tmp_path, {"target": "aws"})

    code, _, err = run("status", "--outputs-dir", outputs, "--suffix", "pr42")

    assert code == 2
    assert err == (
        "Error: The recorded deployment has the suffix 'dev', not 'pr42'; drill 'dev' or deploy with "
        "`make deploy SUFFIX=pr42` first.\n"
    )


def test_a_target_other_than_the_recorded_one_is_refused(tmp_path):
    outputs = deployed(tmp_path, {"target": "aws"})

    code, _, err = run("status", "--outputs-dir", outputs, "--target", "local")

    assert code == 2
    assert err == (
        "Error: The recorded deployment is on aws, not local; drill it there or deploy with "
        "`make deploy TARGET=local`.\n"
    )


def test_an_endpoint_for_an_aws_deployment_is_refused(tmp_path):
    outputs = deployed(tmp_path, {"target": "aws"})

    code, _, err = run("failover", "--outputs-dir", outputs, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:5055"})

    assert code == 2 and "recorded on AWS but AWS_ENDPOINT_URL points at http://127.0.0.1:5055" in err


def test_an_unreachable_emulator_is_named(tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    outputs = deployed(tmp_path, {"target": "local", "endpoint_url": endpoint})

    code, _, err = run("restore", "--dry-run", "--outputs-dir", outputs)

    assert code == 2
    assert err == f"Error: The local AWS emulator does not answer at {endpoint}; start it with `make deploy`.\n"


def test_a_point_in_time_in_the_future_is_refused(tmp_path):
    outputs = deployed(tmp_path, {"target": "aws"})

    code, _, err = run("restore", "--point-in-time", "2999-01-01T00:00:00Z", "--outputs-dir", outputs)

    assert (code, err) == (2, "Error: --point-in-time 2999-01-01T00:00:00+00:00 is in the future of AWS (us-east-1).\n")


def test_help_exits_0(capsys):
    assert run("restore", "--help")[0] == 0
    assert "--point-in-time ISO" in capsys.readouterr().out


AZ_OUTPUTS = {**OUTPUTS, "AzLossTemplateIds": json.dumps({"us-east-1a": "t-a", "us-east-1b": "t-b"})}


@pytest.mark.parametrize(
    ("arguments", "outputs", "message"),
    [
        (
            ["--az", "us-west-2a"],
            AZ_OUTPUTS,
            "Error: us-west-2a is not an AZ of this deployment; its AZ-loss templates cover us-east-1a, us-east-1b.\n",
        ),
        (
            [],
            OUTPUTS,
            "Error: The deployment outputs have no AzLossTemplateIds; run `make deploy` again to refresh them.\n",
        ),
        (
            ["--az", "us-east-1a"],
            {**OUTPUTS, "AzLossTemplateIds": "{not json"},
            "Error: The output AzLossTemplateIds is not JSON; run `make deploy` again.\n",
        ),
    ],
)
def test_the_az_loss_drill_refuses_before_starting_anything(tmp_path, arguments, outputs, message):
    """Checked before any AWS request (an AWS deployment with no credentials would fail on the first)."""
    directory = deployed(tmp_path, {"target": "aws"}, outputs)

    code, out, err = run("az-loss", *arguments, "--outputs-dir", directory, "--report-dir", str(tmp_path / "r"))

    assert (code, out, err) == (2, "", message)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("minutes", ["0", "-3", "ten"])
def test_the_az_loss_window_must_be_positive_minutes(minutes, capsys):
    code, _, _ = run("az-loss", "--minutes", minutes)
    err = capsys.readouterr().err

    assert code == 2 and "is not a positive number of minutes" in err and err.count("\n") == 1
