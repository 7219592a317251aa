"""Lint rules for the Dockerfile (no Docker engine here to build it)."""
import pathlib

from dockerfile_parse import DockerfileParser

ROOT = pathlib.Path(__file__).resolve().parents[2]


def parsed():
    p = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return p, p.structure


def test_base_images_are_pinned():
    p, _ = parsed()
    for image in p.parent_images:
        name, _, tag = image.partition(":")
        assert "@sha256:" in image or (tag and tag != "latest"), f"unpinned base image {image}"


def test_build_is_multi_stage_with_a_dependency_cache_layer():
    _, s = parsed()
    froms = [i for i in s if i["instruction"] == "FROM"]
    assert len(froms) >= 2
    runs = [i["value"] for i in s if i["instruction"] == "RUN"]
    assert any("cargo build" in r and "fn main" in r for r in runs), "no dependency-only build layer"


def test_runtime_is_non_root():
    _, s = parsed()
    last_from = max(i["startline"] for i in s if i["instruction"] == "FROM")
    users = [i["value"].strip() for i in s if i["instruction"] == "USER" and i["startline"] > last_from]
    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0"), users[-1]


def test_healthcheck_entrypoint_and_cmd():
    _, s = parsed()
    by = {i["instruction"]: i["value"] for i in s}
    assert "floe" in by["HEALTHCHECK"] and "healthcheck" in by["HEALTHCHECK"]
    assert by["ENTRYPOINT"].replace(" ", "") == '["floe"]'
    assert by["CMD"].replace(" ", "") == '["run"]'
