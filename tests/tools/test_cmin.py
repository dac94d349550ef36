"""cmin: fewest inputs, every feature kept, inputs untouched, content-hash names, idempotent;
both engines (the libfuzzer one needs atheris)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.data.fuzz_input import join_input, split_input
from harness.data.schedule import MapConfig, dumps, encode_bytes
from harness.run.inputs import load_input
from harness.search.generate import GenConfig, generate
from harness.tools.cmin import (
    CLASS_FEATURE_BASE,
    CminError,
    FeatureRunner,
    Item,
    collect,
    minimise_corpus,
    set_cover,
    write_output,
)

SEEDS = Path(__file__).resolve().parents[2] / "fuzz" / "seeds" / "evacmap"
needs_atheris = pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="atheris is not installed (pip install -e '.[fuzz]'); cmin --engine libfuzzer "
    "runs libFuzzer through it",
)


def make_corpus(d: Path, n: int = 40) -> None:
    d.mkdir()
    rng = random.Random(7)
    gen = GenConfig(threads=2, ops_per_thread=4, keys=4)
    for i in range(n):
        s = generate(rng, gen, MapConfig(variant="iter-no-home-filter"))
        if i % 5 == 0:
            (d / f"s{i}.json").write_text(dumps(s))
        else:
            (d / f"crash-b{i}").write_bytes(encode_bytes(s))
    (d / "crash-dup").write_bytes((d / "crash-b1").read_bytes())


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
        assert load_input(p, config).kind == ("schedule" if p.suffix == ".json" else "bytes")
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


def snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir()}


def union_of_features(paths: list[Path], config: MapConfig) -> tuple[set[int], set[int]]:
    """Native features of every input, unioned: (of all inputs, of the failing ones)."""
    items, skipped, _, _ = collect(paths)
    fr = FeatureRunner(config)
    every: set[int] = set()
    failing: set[int] = set()
    try:
        for it in items:
            if it.kind != "bytes":
                continue
            f = fr.features(it)
            every |= f
            if any(x >= CLASS_FEATURE_BASE for x in f):
                failing.add(int(it.digest, 16))
    finally:
        fr.close()
    assert not skipped
    return every, failing


def test_a_raw_input_starting_with_a_brace_stays_raw(tmp_path: Path) -> None:
    """Its seed's first byte may be '{': still a raw input, on cmin's variant, named
    without .json, and its output file loads."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    config = MapConfig(variant="reader-no-seq-validate")
    schedule = split_input((SEEDS / sorted(p.name for p in SEEDS.iterdir())[0]).read_bytes())[1]
    raw = join_input(0x7B, schedule)
    (corpus / "crash-brace").write_bytes(raw)
    res = minimise_corpus([corpus], config)
    assert not res.skipped and [i.kind for i in res.kept] == ["bytes"]
    out = tmp_path / "min"
    write_output(res.kept, out, [corpus])
    (f,) = out.iterdir()
    assert f.name == hashlib.sha1(raw).hexdigest()
    assert load_input(f, config).seed == 0x7B


@needs_atheris
def test_cmin_libfuzzer_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libFuzzer's set-cover merge through the atheris front end: a subset of the inputs
    under content-hash names, every native feature kept, failing inputs kept, inputs
    and the working directory untouched, counts that add up."""
    variant = "reader-no-seq-validate"  # some seeds fail on it: libFuzzer drops those
    config = MapConfig(variant=variant)
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    first = sorted(corpus.iterdir())[0].read_bytes()
    (corpus / "crash-dup").write_bytes(first)
    (corpus / "crash-brace").write_bytes(join_input(0x7B, split_input(first)[1]))
    rng = random.Random(1)
    gen = GenConfig(threads=2, ops_per_thread=3, keys=3)
    (corpus / "s.json").write_text(dumps(generate(rng, gen, config)))
    tiny = GenConfig(threads=2, ops_per_thread=2, keys=2)
    for i in range(20):  # small and alike: some add nothing over the others
        (corpus / f"crash-g{i}").write_bytes(join_input(i % 3, generate(rng, tiny, config)))
    before = snapshot(corpus)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "min"
    argv = ["cmin", str(corpus), "-o", str(out), "--engine", "libfuzzer", "--variant", variant,
            "--json"]
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert snapshot(corpus) == before
    assert list(cwd.iterdir()) == []  # no crash files or reproducers left behind

    inputs = set(before.values())
    kept = snapshot(out)
    for name, data in kept.items():
        assert name == hashlib.sha1(data).hexdigest() and data in inputs
    assert report["engine"] == "libfuzzer" and report["state"] == "written"
    assert report["inputs"] == len(before) and report["input_bytes"] == sum(map(len, inputs)) + len(
        first)
    assert report["unique"] == len(inputs) and report["skipped"] == 1  # the JSON schedule
    assert report["kept"] == len(kept) and report["kept_bytes"] == sum(map(len, kept.values()))
    assert 0 < report["kept"] < report["unique"] - report["skipped"]
    m = re.search(r"(\d+) new files with (\d+) new features", report["merge_log"][-1])
    assert m is not None
    assert report["features"] == report["kept_features"] == int(m.group(2)) > 0
    assert report["kept"] == int(m.group(1)) + report["failing"]

    # every output file loads and runs; the native features of the output are those of
    # the inputs, and libFuzzer counted the same features as the native engine
    in_feats, in_failing = union_of_features([corpus], config)
    out_feats, out_failing = union_of_features([out], config)
    assert out_feats == in_feats and out_failing == in_failing
    assert report["failing"] == len(in_failing) > 0
    fr = FeatureRunner(config)
    try:
        passing = [fr.features(it) for it in collect([corpus])[0]
                   if it.kind == "bytes" and int(it.digest, 16) not in in_failing]
    finally:
        fr.close()
    assert report["features"] == len(set().union(*passing))

    again = CliRunner().invoke(cli, argv)
    assert again.exit_code == 0 and json.loads(again.stdout)["state"] == "unchanged"
