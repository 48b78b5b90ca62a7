"""The command line: start/status/stop of a background server, the port check, the leftovers check."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.emulator import client_factory
from tools.local_aws.leftovers import Leftover, find_leftovers
from tools.local_aws.leftovers import main as leftovers_main
from tools.local_aws.server import REPO_ROOT, answers, port_is_free, process_start_time

from .helpers import TRUST_LAMBDA, ref, template


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(state_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LOCAL_AWS_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "tools.local_aws", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_refuses_a_port_in_use_in_one_sentence(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = _cli(tmp_path, "start", "--port", str(port))

    assert result.returncode == 1
    assert (
        result.stderr == f"Port {port} on 127.0.0.1 is already in use by another program; choose another with --port.\n"
    )
    assert not (tmp_path / "server.pid").exists()


def _warm_function_process(url: str) -> int:
    """Invoke a function on the server at ``url``; the pid of its (now warm) execution environment."""
    client = client_factory(url)
    role = client("iam").create_role(RoleName="launcher", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "import os\n\ndef handler(event, context):\n    return os.getpid()\n")
    client("lambda").create_function(
        FunctionName="warm",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return int(client("lambda").invoke(FunctionName="warm")["Payload"].read())


def test_server_starts_once_answers_and_stops_without_leaving_a_process(tmp_path):
    port = _free_port()
    started = _cli(tmp_path, "start", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    pid = json.loads((tmp_path / "server.pid").read_text())["pid"]
    try:
        assert (started.returncode, started.stdout) == (0, f"{url}\n")
        assert answers(url) and process_start_time(pid) is not None
        assert _cli(tmp_path, "start", "--port", str(port)).stdout == f"{url}\n"
        assert json.loads((tmp_path / "server.pid").read_text())["pid"] == pid
        assert _cli(tmp_path, "status").stdout.startswith(f"Running at {url} (pid {pid}, RSS ")
        function_pid = _warm_function_process(url)
        assert process_start_time(function_pid) is not None
    finally:
        stopped = _cli(tmp_path, "stop")

    assert stopped.stdout == f"Stopped the local AWS server (pid {pid}).\n"
    assert process_start_time(pid) is None
    assert process_start_time(function_pid) is None  # the server ended it on its way out
    assert port_is_free("127.0.0.1", port)
    assert not (tmp_path / "server.pid").exists()
    assert _cli(tmp_path, "stop").stdout == "No local AWS server runs.\n"
    assert _cli(tmp_path, "status").returncode == 1


def test_leftovers_lists_a_stacks_resources_until_it_is_deleted(cfn, endpoint, suffix):
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"left-{suffix}"}}
    stack = cfn.deploy(
        template({"Bucket": bucket, "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}, {"Topic": ref("Topic")})
    )
    expected = {
        Leftover("CloudFormation stack", f"{stack.name} (CREATE_COMPLETE)"),
        Leftover("S3 bucket", f"left-{suffix}"),
        Leftover("SNS topic", stack.outputs["Topic"]),
    }

    assert expected <= set(find_leftovers(endpoint))
    cfn.delete(stack)
    assert not expected & set(find_leftovers(endpoint))


def test_leftovers_exit_status_is_0_only_when_nothing_is_left(monkeypatch, capsys, endpoint):
    monkeypatch.setattr("tools.local_aws.leftovers.find_leftovers", lambda url: [])
    assert leftovers_main(endpoint) == 0
    assert capsys.readouterr().out.startswith(f"No app resources left at {endpoint}")

    monkeypatch.setattr("tools.local_aws.leftovers.find_leftovers", lambda url: [Leftover("S3 bucket", "data")])
    assert leftovers_main(endpoint) == 1
    assert capsys.readouterr().out == f"1 app resource(s) left at {endpoint}:\n  S3 bucket                    data\n"


def test_leftovers_says_when_the_emulator_cannot_be_reached(capsys):
    assert leftovers_main(f"http://127.0.0.1:{_free_port()}") == 2
    assert "Cannot reach the emulator at" in capsys.readouterr().err
