"""The corpus check: manifest handling, and the real corpus passing with the exact method."""

import pytest

from circuit2mlp.corpus import check_folder, plan
from circuit2mlp.errors import UserError


def test_repository_corpus_passes(corpus):
    rows = check_folder(corpus)
    assert len({r["circuit"] for r in rows}) >= 25
    assert len([r for r in rows if r["circuit"].startswith("handwritten/")]) >= 10
    assert len([r for r in rows if r["circuit"].startswith("real/")]) >= 15
    failed = [r for r in rows if not r["passed"]]
    assert not failed, failed
    assert all(r["bit_error_rate"] == 0 for r in rows)


def test_manifest_overrides_and_defaults(tmp_path, corpus):
    (tmp_path / "fa.yaml").write_text((corpus / "handwritten/full_adder.yaml").read_text())
    (tmp_path / "ha.yaml").write_text((corpus / "handwritten/half_adder.yaml").read_text())
    (tmp_path / "manifest.yaml").write_text(
        "defaults: {sparsity: 1}\ncircuits:\n  fa.yaml: {sparsity: 3, samples: 5}\n"
    )
    jobs = {j.name: j.settings for j in plan(tmp_path)}
    assert jobs["fa.yaml"]["sparsity"] == 3 and jobs["fa.yaml"]["samples"] == 5
    assert jobs["ha.yaml"]["sparsity"] == 1


@pytest.mark.parametrize(
    ("manifest", "phrase"),
    [
        ("circuits:\n  gone.yaml: {}\n", "does not exist"),
        ("circuits:\n  fa.yaml: {colour: red}\n", "unknown manifest key"),
        ("circuits: [\n", "invalid YAML"),
    ],
)
def test_bad_manifest(tmp_path, corpus, manifest, phrase):
    (tmp_path / "fa.yaml").write_text((corpus / "handwritten/full_adder.yaml").read_text())
    (tmp_path / "manifest.yaml").write_text(manifest)
    with pytest.raises(UserError, match=phrase):
        plan(tmp_path)


def test_failing_circuit_is_reported(tmp_path):
    (tmp_path / "broken.yaml").write_text("inputs: [a]\noutputs: [y]\ngates: {y: [and, a, q]}\n")
    rows = check_folder(tmp_path)
    assert rows[0]["passed"] is False and "undefined" in rows[0]["error"]
