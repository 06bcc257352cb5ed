"""Feature dashboards and SAE metric tables on the tiny trained run, checked against independent recomputation.

The hand-built SAE of ``_exact_sae`` has known features: feature i is relu(x_i) and feature d + i is relu(-x_i)
of the residual stream x, so every activation a page shows can be recomputed from the model's cache alone. The
dashboards' copy has its last feature switched off (encoder bias -1e4), so one feature never fires by construction.
"""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import plotly.offline
import pytest
import torch

from saes.dashboard import PLOTLY_JS, DashboardError, feature_stats, feature_table, write_dashboards
from saes.evaluate import METRIC_COLUMNS, evaluate_sae, evaluate_saes
from tests.test_sae_train import _exact_sae

HOOK = "blocks.1.hook_resid_pre"


@pytest.fixture(scope="module")
def model(tiny_run_dir):
    import interp

    return interp.load(tiny_run_dir, device="cpu")


@pytest.fixture(scope="module")
def tokens(tiny_data_dir):
    from interp.data.shards import TokenShards

    return TokenShards(tiny_data_dir / "val").first_windows(24, 64)


@pytest.fixture(scope="module")
def sae(model):
    """The exact SAE with its last feature (relu(-x_{d-1})) switched off: it never fires."""
    out = _exact_sae(model.cfg.d_model, HOOK)
    with torch.no_grad():
        out.b_enc[-1] = -1e4
    return out


@pytest.fixture(scope="module")
def expected(model, tokens) -> torch.Tensor:
    """``[n_seq, pos, 2 * d_model]``: the SAE's activations, from the residual stream directly."""
    _, cache = model.run_with_cache(tokens, names_filter=HOOK)
    x = cache[HOOK].detach()
    acts = torch.cat([x.clamp(min=0), (-x).clamp(min=0)], dim=-1)
    acts[..., -1] = 0  # the switched-off feature
    return acts


@pytest.fixture(scope="module")
def features(expected) -> list[int]:
    """Five features that fire (spread over the ids: positive and negative ones) and one that never does."""
    density = (expected[:, 1:] > 0).float().mean(dim=(0, 1))
    alive, dead = (density > 0.05).nonzero().flatten(), (density == 0).nonzero().flatten()
    assert len(alive) >= 5 and expected.shape[-1] - 1 in dead.tolist()
    return alive[:: len(alive) // 5][:5].tolist() + dead[:1].tolist()


@pytest.fixture(scope="module")
def dash(model, sae, tokens, features, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dash") / "dashboard"
    write_dashboards(model, sae, tokens, out, features=features, sort_by="mean_act")
    return out


class _Page(HTMLParser):
    """The parts of a dashboard page the tests read: links, examples (with their interval) and index cells."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.links: list[tuple[str, str | None]] = []
        self.examples: list[dict] = []
        self.rows: list[list[str]] = []  # index: each row's data-v values
        self.interval: tuple[float, float] | None = None
        self._cell: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag == "a":
            self.links.append((a["href"], a.get("rel")))
        elif tag == "div" and cls == "interval":
            self.interval = (float(a["data-lo"]), float(a["data-hi"]))
        elif tag == "tr" and cls == "example":
            self.examples.append(dict(seq=int(a["data-seq"]), pos=int(a["data-pos"]), start=int(a["data-start"]),
                                      acts=[], value="", interval=self.interval))
        elif tag == "span" and "data-act" in a:
            self.examples[-1]["acts"].append(float(a["data-act"]))
        elif tag == "td" and "val" in cls.split():
            self._cell = "val"
        elif tag == "tr" and not cls:
            self.rows.append([])
        elif tag == "td" and "data-v" in a and self.rows:
            self.rows[-1].append(a["data-v"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self.interval = None
        elif tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell == "val":
            self.examples[-1]["value"] += data


def _page(path: Path) -> _Page:
    return _Page(path.read_text())


def test_one_shared_plotly_referenced_relatively(dash, features) -> None:
    assert [p.name for p in dash.glob("*.js")] == [PLOTLY_JS]
    js = plotly.offline.get_plotlyjs()
    assert (dash / PLOTLY_JS).read_text() == js
    pages = sorted(dash.glob("feature_*.html"))
    assert len(pages) == len(features)
    for p in pages:
        text = p.read_text()
        assert text.count(f'src="{PLOTLY_JS}"') == 1 and js[:1000] not in text
        assert p.stat().st_size < 150_000, (p.name, p.stat().st_size)  # an inlined plotly.js is 4.8 MB
        assert str(dash) not in text  # nothing absolute: the directory works wherever it is copied


def test_index_links_every_page_in_order_and_pages_chain(dash, features, expected) -> None:
    index = _page(dash / "index.html")
    linked = [h for h, _ in index.links]
    assert sorted(linked) == sorted(f"feature_{f}.html" for f in features)
    assert all((dash / h).exists() for h in linked)
    # Sorted by mean activation where it fires, descending (the dead feature, mean nan, last); the values are the
    # independently recomputed ones.
    a = expected[:, 1:].flatten(0, 1)
    mean = {f: float(a[:, f][a[:, f] > 0].mean()) for f in features}
    order = [int(h.removeprefix("feature_").removesuffix(".html")) for h in linked]
    assert order == sorted(features[:-1], key=lambda f: -mean[f]) + features[-1:]
    shown = [float(row[3]) for row in index.rows if row]  # feature, density, max, mean
    assert shown == pytest.approx([mean[f] for f in order], rel=1e-5, nan_ok=True)
    # Next / previous links follow the index order; every page links back to the index.
    for i, f in enumerate(order):
        links = _page(dash / f"feature_{f}.html").links
        assert ("index.html", None) in links
        nxt = [h for h, rel in links if rel == "next"]
        prv = [h for h, rel in links if rel == "prev"]
        assert nxt == ([f"feature_{order[i + 1]}.html"] * 2 if i + 1 < len(order) else [])
        assert prv == ([f"feature_{order[i - 1]}.html"] * 2 if i else [])


def test_shown_activations_match_the_features(dash, features, expected) -> None:
    assert not _page(dash / f"feature_{features[-1]}.html").examples  # the dead one: nothing to show
    for f in features[:-1]:
        page = _page(dash / f"feature_{f}.html")
        top = [e for e in page.examples if e["interval"] is None]
        assert len(top) == 10 and len(page.examples) > 10
        for e in page.examples:
            want = expected[e["seq"], e["start"] : e["start"] + len(e["acts"]), f].tolist()
            assert e["acts"] == pytest.approx(want, rel=1e-5, abs=1e-6), (f, e)
            assert float(e["value"]) == pytest.approx(want[e["pos"] - e["start"]], rel=6e-3)
            assert e["pos"] > 0  # the first window position is never chosen
        # The top examples are the feature's largest activations (first position left out), in order.
        peaks = [float(e["value"]) for e in top]
        best = expected[:, 1:, f].flatten().topk(10).values.tolist()
        assert peaks == pytest.approx(best, rel=6e-3)
        # Quantile-interval examples lie in their intervals: the quantiles of the independently computed values.
        firing = expected[:, 1:, f].flatten()
        edges = np.quantile(firing[firing > 0].double().numpy(), np.linspace(0, 1, 5))
        intervals = sorted({e["interval"] for e in page.examples if e["interval"]})
        assert [lo for lo, _ in intervals] == pytest.approx(edges[:-1].tolist(), rel=1e-6)
        for e in page.examples:
            if e["interval"]:
                lo, hi = e["interval"]
                assert lo * (1 - 1e-5) <= e["acts"][e["pos"] - e["start"]] <= hi * (1 + 1e-5), (f, e)


def test_feature_stats_and_table_agree_with_recomputation(model, sae, tokens, features, expected) -> None:
    table = feature_table(model, sae, tokens, features)
    a = expected[:, 1:].flatten(0, 1)
    for f in features:
        col = a[:, f]
        assert table.loc[f, "density"] == pytest.approx(float((col > 0).float().mean()))
        assert table.loc[f, "max_act"] == pytest.approx(float(col.max()), rel=1e-5)
    for st in feature_stats(model, sae, tokens, features[:2]):
        assert len(st.intervals) == 4 and st.intervals[0].q_hi == 1.0  # highest interval first
        shown = {(e.seq, e.pos) for e in st.top}
        for iv in st.intervals:
            assert iv.examples and all(iv.lo <= e.value <= iv.hi for e in iv.examples)
            assert not shown & {(e.seq, e.pos) for e in iv.examples}  # the top examples are not repeated
        assert sum(iv.n_tokens for iv in st.intervals) == len(st.acts)


def test_bad_dashboard_requests(model, sae, tokens, tmp_path) -> None:
    with pytest.raises(DashboardError, match="max_act, mean_act, density, feature"):
        write_dashboards(model, sae, tokens, tmp_path / "d", features=[0], sort_by="frequency")
    with pytest.raises(DashboardError, match=f"features 0..{sae.cfg.d_sae - 1}"):
        feature_table(model, sae, tokens, [sae.cfg.d_sae])


def test_dashboard_command_sorts_by_feature_and_survives_a_copy(tiny_run_dir, sae, tmp_path) -> None:
    from interp.app.cli import main
    from saes.format import save_sae

    sae_dir = save_sae(sae, tmp_path / "exact")
    assert main(["dashboard", str(sae_dir), "--run-dir", str(tiny_run_dir), "--n-seqs", "6", "--n-features", "4",
                 "--sort-by", "feature", "--out", str(tmp_path / "dash")]) == 0
    moved = Path(shutil.copytree(tmp_path / "dash", tmp_path / "elsewhere" / "dash"))
    shutil.rmtree(tmp_path / "dash")
    ids = [int(h[8:-5]) for h, _ in _page(moved / "index.html").links]
    assert len(ids) == 4 and ids == sorted(ids) and all((moved / f"feature_{i}.html").exists() for i in ids)
    assert (moved / PLOTLY_JS).exists()


def test_evaluate_saes_rows_match_evaluate_sae(model, tokens) -> None:
    sae = _exact_sae(model.cfg.d_model, HOOK)
    zero = _exact_sae(model.cfg.d_model, HOOK)
    with torch.no_grad():
        zero.W_dec.zero_()
    frame = evaluate_saes(model, {"exact": sae, "zero": zero}, tokens[:4])
    assert list(frame.index) == ["exact", "zero"] and list(frame.columns) == list(METRIC_COLUMNS)
    for name, s in (("exact", sae), ("zero", zero)):
        single = evaluate_sae(model, s, tokens[:4])
        single.pop("density")
        assert frame.loc[name].to_dict() == pytest.approx(single, rel=1e-6, nan_ok=True)
    assert frame.loc["exact", "fvu"] < 1e-6 < 0.99 < frame.loc["zero", "fvu"]
