"""The outputs file and target record that connect `make deploy` to the integration tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib.deploy_target import OutputsError, flatten, read_flat_outputs, read_target
from tools import write_outputs


def test_flatten_merges_stacks() -> None:
    assert flatten({"TapStackdev": {"VpcId": "vpc-1"}, "Other": {"TableName": "t"}}) == {
        "VpcId": "vpc-1",
        "TableName": "t",
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "does not exist"), ("", "holds no outputs"), ("{}", "holds no outputs"), ("{not json", "not valid JSON")],
)
def test_unusable_outputs_file_says_how_to_produce_it(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "flat-outputs.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(OutputsError) as error:
        read_flat_outputs(path)
    assert problem in str(error.value)
    assert "make deploy" in str(error.value)


def test_write_outputs_records_flat_outputs_and_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write_outputs, "FLAT_OUTPUTS", tmp_path / "out" / "flat-outputs.json")
    monkeypatch.setattr(write_outputs, "TARGET_FILE", tmp_path / "out" / "target.json")
    source = tmp_path / "cdk-outputs.json"
    source.write_text(json.dumps({"TapStackdev": {"VpcId": "vpc-1"}}))
    assert write_outputs.main([str(source), "local", "http://127.0.0.1:5055"]) == 0
    assert read_flat_outputs(tmp_path / "out" / "flat-outputs.json") == {"VpcId": "vpc-1"}
    assert read_target(tmp_path / "out" / "target.json") == {"target": "local", "endpoint_url": "http://127.0.0.1:5055"}


def test_write_outputs_refuses_a_missing_or_empty_deploy_output(tmp_path: Path, capsys) -> None:
    assert write_outputs.main([str(tmp_path / "absent.json"), "aws"]) == 1
    (tmp_path / "empty.json").write_text("{}")
    assert write_outputs.main([str(tmp_path / "empty.json"), "aws"]) == 1
    assert write_outputs.main([str(tmp_path / "x.json"), "staging"]) == 2
    errors = capsys.readouterr().err
    assert "does not exist" in errors and "holds no stack outputs" in errors and "usage:" in errors


def test_no_recorded_target_means_real_aws(tmp_path: Path) -> None:
    assert read_target(tmp_path / "target.json") == {}
