"""cmin: fewest inputs, every feature kept, inputs untouched, content-hash names, idempotent."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.cmin import CminError, Item, minimise_corpus, set_cover, write_output
from harness.generate import GenConfig, generate
from harness.schedule import MapConfig, dumps, encode_bytes


def make_corpus(d: Path, n: int = 40) -> None:
    d.mkdir()
    rng = random.Random(7)
    gen = GenConfig(threads=2, ops_per_thread=4, keys=4)
    for i in range(n):
        s = generate(rng, gen, MapConfig(variant="iter-no-home-filter"))
        if i % 5 == 0:
            (d / f"s{i}.json").write_text(dumps(s))
        else:
            (d / f"b{i}").write_bytes(encode_bytes(s))
    (d / "dup").write_bytes((d / "b1").read_bytes())


def item(name: str, size: int = 1) -> Item:
    return Item(Path(name), b"x" * size, name, "bytes")


def test_set_cover_is_small_and_irredundant() -> None:
    items = [item("a"), item("b"), item("c"), item("d", 5)]
    feats = [frozenset({1, 2}), frozenset({2, 3}), frozenset({3, 4}), frozenset({1, 2, 3, 4})]
    assert set_cover(items, feats) == [3]
    # greedy picks {1,2,3} first, then {1},{4} ... the sweep removes what became redundant
    items = [item(x) for x in "abcd"]
    feats = [frozenset({1, 2, 3}), frozenset({1, 4}), frozenset({2, 5}), frozenset({3, 6})]
    kept = set_cover(items, feats)
    assert set().union(*(feats[i] for i in kept)) == {1, 2, 3, 4, 5, 6}
    assert kept == [1, 2, 3]


def test_cmin_keeps_every_feature_and_is_idempotent(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    before = {p.name: p.read_bytes() for p in corpus.iterdir()}
    config = MapConfig(variant="iter-no-home-filter")
    res = minimise_corpus([corpus], config)
    assert res.inputs == 41 and res.unique == 40 and not res.skipped
    assert res.kept_features == res.features > 0
    assert 0 < len(res.kept) < 40
    out = tmp_path / "min"
    assert write_output(res.kept, out, [corpus]) == "written"
    assert {p.name: p.read_bytes() for p in corpus.iterdir()} == before
    for p in out.iterdir():
        assert p.name.split(".")[0] == hashlib.sha1(p.read_bytes()).hexdigest()
    # minimising the output keeps all of it, with the same features
    again = minimise_corpus([out], config)
    assert len(again.kept) == len(res.kept) and again.features == res.features
    # same command again: nothing to do; another corpus in the way: refused
    assert write_output(res.kept, out, [corpus]) == "unchanged"
    with pytest.raises(CminError, match="not empty"):
        write_output(res.kept[:1], out, [corpus])
    with pytest.raises(CminError, match="input directory"):
        write_output(res.kept, corpus, [corpus])


def test_cmin_command_reports_counts_and_bytes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 12)
    (corpus / "broken.json").write_text("{not json")
    out = tmp_path / "min"
    res = CliRunner().invoke(cli, ["cmin", str(corpus), "-o", str(out), "--json",
                                   "--variant", "iter-no-home-filter"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["inputs"] == 14 and report["skipped"] == 1
    assert report["kept_features"] == report["features"]
    assert report["kept"] == len(list(out.iterdir()))
    assert report["kept_bytes"] == sum(p.stat().st_size for p in out.iterdir())
    assert report["kept_bytes"] <= report["input_bytes"]
