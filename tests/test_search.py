"""`ssamt.search`: the index build, both query directions against a brute-force reference
(numpy top-k of the stored embeddings, Eq. 5 of each pair straight from the model), the
approximate indexes' recall, and the commands' output and errors, on the tiny synthetic
test split with a small random model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from ssamt.model.scores import PairScores
from ssamt.search.results import Hit, rank_hits

pytest.importorskip("faiss")

from _gallery import MAX_TOKENS


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one thread (as `ssamt search --threads 1` sets anyway); both pools are
    restored for the tests that follow."""
    import faiss

    threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(faiss_threads)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Synthetic test split with cached labels, a random model's run and a flat index."""
    pytest.importorskip("spacy")
    from _gallery import make_gallery

    return make_gallery(tmp_path_factory.mktemp("search"))


@pytest.fixture(scope="module")
def searcher(built):
    from ssamt.search import Searcher

    return Searcher.open(built["index"])


def test_manifest_and_embeddings(built):
    from ssamt.data.tables import ImageTable, TextTable
    from ssamt.retrieval.encode import encode_gallery

    m = built["manifest"]
    assert m["num_images"] == 100 and m["num_captions"] == 500 and m["split"] == "test"
    assert m["kind"] == "flat" and m["recall"] == {} and m["has_ids"]
    assert len(m["checkpoint_sha256"]) == 64 and m["data_fingerprint"].startswith("sha256-2:")
    img, txt = encode_gallery(built["model"], ImageTable(built["split"]),
                              TextTable(built["store"].graphs, built["vocab"], MAX_TOKENS))
    assert np.allclose(np.load(built["index"] / "images.npy"), img.numpy(), atol=1e-6)
    assert np.allclose(np.load(built["index"] / "captions.npy"), txt.numpy(), atol=1e-6)
    assert not list(built["root"].glob(".index.tmp-*"))  # the temporary folder is gone


def _reference(model, img_batch, txt_batch, a_img, a_txt) -> float:
    with torch.no_grad():
        out = model.inter(img_batch, txt_batch)
        return float(PairScores.of(a_img, a_txt, out).eq5(0.25, 0.05)[0])


def test_text_query_matches_brute_force(built, searcher):
    from ssamt.data.tables import TextTable
    from ssamt.labels.parser import parse

    query = "a brown dog next to a red car"
    res = searcher.text(query, k=8, rerank_k=5)
    graph = parse([query])[0]
    table = TextTable([graph], built["vocab"], MAX_TOKENS)
    model = built["model"]
    with torch.no_grad():
        q = torch.nn.functional.normalize(model.encode_texts(table.batch([0])), dim=-1)
    emb = np.load(built["index"] / "images.npy")
    cos = emb @ q[0].numpy()
    order = np.argsort(-cos, kind="stable")[:8]
    assert [h.index for h in sorted(res.hits, key=lambda h: h.stage1_rank)] == order.tolist()
    assert np.allclose([h.stage1_score for h in res.stage1_results], cos[order], atol=1e-5)
    eq5 = {int(i): _reference(model, searcher.image_table.batch([int(i)]), table.batch([0]),
                              torch.from_numpy(emb[[int(i)]]), q) for i in order[:5]}
    expect = sorted(order[:5].tolist(), key=lambda i: -eq5[i]) + order[5:].tolist()
    assert [h.index for h in res.results] == expect
    for h in res.results:
        assert (h.eq5 is None) == (h.index not in eq5)
        if h.eq5 is not None:
            assert h.eq5 == pytest.approx(eq5[h.index], abs=1e-5) and h.score == h.eq5
        assert h.id == built["split"].ids[h.index]
        assert list(h.captions) == built["split"].image_captions(h.index)


def test_image_query_matches_brute_force(built, searcher):
    from ssamt.data.tables import TextTable

    res = searcher.image("synth-testall-000007", k=6, rerank_k=6)
    emb_i = np.load(built["index"] / "images.npy")[[7]]
    emb_t = np.load(built["index"] / "captions.npy")
    order = np.argsort(-(emb_t @ emb_i[0]), kind="stable")[:6]
    assert sorted(h.stage1_rank for h in res.hits) == list(range(1, 7))
    assert [h.index for h in res.stage1_results] == order.tolist()
    table = TextTable(built["store"].graphs, built["vocab"], MAX_TOKENS)
    eq5 = {int(j): _reference(built["model"], searcher.image_table.batch([7]),
                              table.batch([int(j)]), torch.from_numpy(emb_i),
                              torch.from_numpy(emb_t[[int(j)]])) for j in order}
    assert [h.index for h in res.results] == sorted(order.tolist(), key=lambda j: -eq5[j])
    for h in res.results:
        assert h.eq5 == pytest.approx(eq5[h.index], abs=1e-5)
        assert h.text == built["split"].captions[h.index] and h.id == h.index
        assert h.image_id == built["split"].ids[h.index // 5]


def test_stage1_only_and_k_beyond_gallery(searcher):
    res = searcher.text("a cat", k=3, rerank_k=0)
    assert all(h.eq5 is None and h.rank == h.stage1_rank for h in res.hits)
    res = searcher.text("a cat", k=500, rerank_k=2)
    assert len(res.results) == 100  # the whole gallery, no more
    assert sorted(h.rank for h in res.hits) == list(range(1, 101))


def test_rank_hits_reference():
    hits = rank_hits([10, 11, 12, 13], [0.9, 0.8, 0.7, 0.6], [0.1, 0.5, 0.3],
                     lambda i, s, s1, v, r, r1: Hit(i, i, s, s1, v, r, r1))
    assert [(h.index, h.rank, h.stage1_rank) for h in hits] == [
        (11, 1, 2), (12, 2, 3), (10, 3, 1), (13, 4, 4)]
    assert hits[-1].eq5 is None and hits[-1].score == 0.6


def test_approximate_indexes_report_recall(built):
    from ssamt.search.ann import approx_recall, build_ann

    emb = np.load(built["index"] / "images.npy")
    queries = np.load(built["index"] / "captions.npy")[:50]
    exact_ivf = build_ann(emb, "ivf", ivf_nlist=2, nprobe=2)  # every cell probed: exact
    assert approx_recall(exact_ivf, emb, queries) == pytest.approx(1.0)
    hnsw = build_ann(emb, "hnsw", hnsw_m=8)
    assert 0.5 <= approx_recall(hnsw, emb, queries) <= 1.0


def test_index_command_hnsw_and_replace(built, capsys):
    from ssamt.cli import main

    out = built["root"] / "hnsw"
    rc = main(["index", "--checkpoint", str(built["run"]), "--data", str(built["data"]),
               "--out", str(out), "--kind", "hnsw", "--device", "cpu", "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0 and "images_recall@10 against exact search" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert 0 <= manifest["recall"]["captions_recall@10"] <= 1 and manifest["kind"] == "hnsw"
    # An index is replaced in place; anything else is refused.
    assert main(["index", "--checkpoint", str(built["run"]), "--data", str(built["data"]),
                 "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    assert json.loads((out / "manifest.json").read_text())["kind"] == "flat"
    capsys.readouterr()
    assert main(["index", "--checkpoint", str(built["run"]), "--data", str(built["data"]),
                 "--out", str(built["data"]), "--quiet"]) == 2
    assert "is not an ssamt index" in capsys.readouterr().err


def test_search_command_json(built, capsys):
    from ssamt.cli import main

    rc = main(["search", "--index", str(built["index"]), "a small dog", "-k", "4",
               "--rerank-k", "3", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "text" and len(out["results"]) == 4
    for r in out["results"]:
        assert {"id", "score", "rank", "stage1_rank"} <= set(r)
        assert r["id"].startswith("synth-testall-")
    assert [r["rank"] for r in out["results"]] == [1, 2, 3, 4]
    rc = main(["search", "--index", str(built["index"]), "--image", "synth-testall-000002",
               "--checkpoint", str(built["run"]), "--data", str(built["data"])])
    text = capsys.readouterr().out
    assert rc == 0 and "image synth-testall-000002 -> captions" in text


@pytest.mark.parametrize("argv, message", [
    (["--image", "nope"], "unknown image id 'nope'"),
    (["   "], "the query is empty"),
    (["a dog", "-k", "0"], "-k must be >= 1"),
    (["a dog", "--rerank-k", "-1"], "--rerank-k must be >= 0"),
    ([], "give either a text query or --image ID"),
    (["a dog", "--image", "3"], "give either a text query or --image ID"),
    (["x" * 1001], "at most 1000"),
    (["zzqx"], "in the model's vocabulary"),
])
def test_search_command_errors(built, capsys, argv, message):
    from ssamt.cli import main

    assert main(["search", "--index", str(built["index"]), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_search_refuses_changed_inputs(built, tmp_path, capsys):
    from ssamt.cli import main

    assert main(["search", "--index", str(tmp_path / "none"), "a dog"]) == 2
    assert "index folder not found" in capsys.readouterr().err
    # Another checkpoint (retrained: other weights) is refused.
    other = tmp_path / "other.pt"
    payload = torch.load(built["run"] / "best.pt", weights_only=True)
    payload["model"] = {k: v + 1 for k, v in payload["model"].items()}
    torch.save(payload, other)
    assert main(["search", "--index", str(built["index"]), "--checkpoint", str(other),
                 "a dog"]) == 2
    assert "not the checkpoint index" in capsys.readouterr().err
    # Changed captions are refused.
    data = tmp_path / "data"
    shutil.copytree(built["data"], data)
    caps = data / "test_caps.txt"
    caps.write_text(caps.read_text().replace("a ", "the ", 1))
    assert main(["search", "--index", str(built["index"]), "--data", str(data), "a dog"]) == 2
    assert "changed since index" in capsys.readouterr().err
    # A damaged index folder.
    broken = tmp_path / "broken"
    shutil.copytree(built["index"], broken)
    (broken / "captions.offsets.npy").unlink()
    assert main(["search", "--index", str(broken), "a dog"]) == 2
    assert "captions.offsets.npy: missing from the index folder" in capsys.readouterr().err
    shutil.copy(built["index"] / "captions.offsets.npy", broken)
    (broken / "images.faiss").write_bytes(b"junk")
    assert main(["search", "--index", str(broken), "a dog"]) == 2
    assert "images.faiss: 4 bytes, but the index was built with" in capsys.readouterr().err


def test_index_refuses_a_model_of_other_data(built, tmp_path, capsys):
    from ssamt.cli import main

    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "test_ims.npy", np.zeros((2, 3, 7), np.float32))
    (data / "test_caps.txt").write_text("a dog\na cat\n")
    assert main(["index", "--checkpoint", str(built["run"]), "--data", str(data),
                 "--out", str(tmp_path / "ix"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "region features of 7 dims" in err and not (tmp_path / "ix").exists()


@pytest.mark.parametrize("extra, message", [
    (["--data", "{root}/nowhere"], "data folder not found"),
    (["--checkpoint", "{root}/none.pt"], "no such checkpoint file"),
    (["--split", "dev2"], "split 'dev2' needs dev2_ims.npy"),
    (["--kind", "ivf", "--ivf-lists", "1000"], "--ivf-lists must be in 1..100"),
    (["--ivf-lists", "0"], "--ivf-lists must be >= 1"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
])
def test_index_command_errors(built, tmp_path, capsys, extra, message):
    from ssamt.cli import main

    argv = {"--checkpoint": str(built["run"]), "--data": str(built["data"]),
            "--out": str(tmp_path / "ix")}
    extra = [e.format(root=tmp_path) for e in extra]
    for flag in ("--checkpoint", "--data"):
        if flag in extra:
            argv[flag] = extra.pop(extra.index(flag) + 1)
            extra.remove(flag)
    flat = [x for kv in argv.items() for x in kv]
    assert main(["index", *flat, *extra, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "ix").exists() and not list(tmp_path.glob(".ix.tmp-*"))


def test_ivf_index_searches(built, tmp_path):
    from ssamt.search import Searcher, build_index

    manifest = build_index(built["run"], built["data"], tmp_path / "ivf", kind="ivf",
                           ivf_nlist=2, nprobe=2)
    assert manifest["recall"]["images_recall@10"] == pytest.approx(1.0)
    res = Searcher.open(tmp_path / "ivf").text("a dog", k=5, rerank_k=0)
    exact = Searcher.open(built["index"]).text("a dog", k=5, rerank_k=0)
    assert [h.id for h in res.results] == [h.id for h in exact.results]


def test_search_refuses_a_folder_that_is_not_an_index(tmp_path, capsys):
    from ssamt.cli import main

    assert main(["search", "--index", str(tmp_path), "a dog"]) == 2
    assert "not an ssamt index: no manifest.json" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text("{broken")
    assert main(["search", "--index", str(tmp_path), "a dog"]) == 2
    assert "unreadable manifest" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text('{"format": "ssamt-index/2", "split": "test"}')
    assert main(["search", "--index", str(tmp_path), "a dog"]) == 2
    assert "manifest lacks checkpoint, checkpoint_sha256" in capsys.readouterr().err
