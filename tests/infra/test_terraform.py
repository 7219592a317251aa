"""Static checks of the Terraform module (providers cannot be downloaded here, so no `validate`)."""
import pathlib
import re
import shutil
import subprocess
import sys

import hcl2
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
SCOPED_SERVICES = ("s3:", "kinesis:", "glue:", "dynamodb:")


def load(path):
    with open(path) as f:
        return hcl2.load(f)


def one(value):
    """python-hcl2 wraps each attribute's value in a one-element list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def policy_documents():
    """Every aws_iam_policy_document in the module, as (file, name, statements)."""
    for path in sorted(TF.rglob("*.tf")):
        for block in load(path).get("data", []):
            for name, body in block.get("aws_iam_policy_document", {}).items():
                yield path.relative_to(ROOT), name, body.get("statement", [])


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_fmt():
    r = subprocess.run(["terraform", "fmt", "-check", "-recursive", str(TF)], capture_output=True, text=True)
    assert r.returncode == 0, f"terraform fmt would change: {r.stdout}{r.stderr}"


def test_checkov_reports_no_failed_check():
    checkov = pathlib.Path(sys.executable).parent / "checkov"
    assert checkov.exists(), "checkov is not installed in this venv (scripts/test.sh installs it)"
    r = subprocess.run(
        [str(checkov), "-d", str(TF), "--framework", "terraform", "--compact", "--quiet", "--skip-download"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout[-5000:]
    assert "Failed checks: 0" in r.stdout, r.stdout[-5000:]


def test_every_checkov_skip_is_justified():
    for path in TF.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                m = re.search(r"checkov:skip=(CKV2?_AWS_\d+):(.+)", line)
                assert m and len(m.group(2).strip()) > 20, f"{path}: skip without a reason: {line.strip()}"


def test_iam_never_grants_data_services_on_every_resource():
    seen = 0
    for path, name, statements in policy_documents():
        for st in statements:
            actions = one(st.get("actions", [[]]))
            if one(st.get("effect", "Allow")) != "Allow":
                continue
            if any(a.startswith(SCOPED_SERVICES) for a in actions):
                seen += 1
                resources = one(st.get("resources", [[]]))
                if isinstance(resources, str):
                    resources = [resources]
                assert resources, f"{path} {name}: statement {st.get('sid')} has no resources"
                assert "*" not in resources, f"{path} {name}: {st.get('sid')} grants {actions} on *"
                for a in actions:
                    assert a.split(":")[1] != "*", f"{path} {name}: wildcard action {a}"
    assert seen >= 5, "expected the task role's S3, Kinesis, Glue and DynamoDB statements"


def test_stop_timeout_follows_the_drain_deadline():
    ecs = (TF / "ecs.tf").read_text()
    assert "stopTimeout            = var.drain_seconds + 5" in ecs
    assert 'FLOE_SHUTDOWN_DRAIN_DEADLINE = "${var.drain_seconds}s"' in ecs


def test_example_uses_the_module():
    example = load(TF / "examples" / "complete" / "main.tf")
    modules = {k: v for m in example["module"] for k, v in m.items()}
    assert one(modules["floe"]["source"]) == "../.."


def test_every_variable_and_output_is_documented():
    for path in TF.rglob("*.tf"):
        doc = load(path)
        for kind in ("variable", "output"):
            for block in doc.get(kind, []):
                for name, body in block.items():
                    assert one(body.get("description")), f"{path}: {kind} {name} has no description"
