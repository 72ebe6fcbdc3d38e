"""Pieces of the insights reports that need no model: clustering, quantities and polarity, charts."""

from __future__ import annotations

from xml.etree import ElementTree

import numpy as np
import pytest

from kb.insights.charts import bar_chart, histogram, line_chart, to_csv
from kb.insights.cluster import cluster_vectors, silhouette, top_terms


def blobs(rng, centers: int, per: int, noise: int, dim: int = 64, spread: float = 0.25):
    """Unit vectors around random centres, plus scattered one-offs."""
    C = rng.normal(size=(centers, dim))
    X = np.vstack([C[i] + spread * rng.normal(size=(per, dim)) for i in range(centers)] +
                  [rng.normal(size=(noise, dim))])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    truth = np.repeat(np.arange(centers), per).tolist() + [-1] * noise
    return X.astype(np.float32), np.array(truth)


@pytest.mark.parametrize("max_micro", [1000, 40])  # exact average linkage, and k-means micro-clusters first
def test_clusters_recovered_with_k_chosen_from_the_data(max_micro):
    rng = np.random.default_rng(3)
    X, truth = blobs(rng, centers=5, per=30, noise=40)
    c = cluster_vectors(X, max_micro=max_micro)
    assert c.chosen_by == "silhouette" and c.silhouette > 0.2
    for k in range(5):
        labels = c.labels[truth == k]
        top = np.bincount(labels).argmax()
        assert (labels == top).mean() >= 0.9  # each topic stays whole
        assert (truth[c.labels == top] == k).mean() >= 0.9  # ... and is not mixed with others
    assert len(c.sizes) >= 5 and sorted(c.sizes, reverse=True) == c.sizes


def test_average_linkage_matches_scipy():
    hierarchy = pytest.importorskip("scipy.cluster.hierarchy")
    rng = np.random.default_rng(0)
    X, _ = blobs(rng, centers=4, per=12, noise=10)
    c = cluster_vectors(X, similarity=0.5)
    ref = hierarchy.fcluster(hierarchy.linkage(X, "average", metric="cosine"), 0.5, "distance")
    # the same partition (labels may be numbered differently)
    pairs = {(a, b) for a, b in zip(c.labels.tolist(), ref.tolist(), strict=True)}
    assert len(pairs) == len(set(c.labels.tolist())) == len(set(ref.tolist()))


def test_silhouette_small_example():
    # two tight pairs far apart: a = 0.1, b = 1.0 for every point -> (1 - 0.1) / 1 = 0.9
    D = np.array([[0, .1, 1, 1], [.1, 0, 1, 1], [1, 1, 0, .1], [1, 1, .1, 0]], dtype=float)
    assert silhouette(D, np.array([0, 0, 1, 1])) == pytest.approx(0.9)
    assert silhouette(D, np.array([0, 0, 0, 0])) is None


def test_trivial_inputs():
    assert cluster_vectors(np.zeros((0, 8), dtype=np.float32)).sizes == []
    one = cluster_vectors(np.ones((1, 8), dtype=np.float32) / np.sqrt(8))
    assert one.sizes == [1] and one.chosen_by == "trivial"


def test_top_terms_are_distinctive():
    terms = top_terms([["gift wrap my order", "gift wrapping cost", "wrap a present"],
                       ["student discount", "nhs discount code", "my order discount"]])
    assert terms[0][0] in ("gift", "wrap") and terms[1][0] == "discount"
    assert "order" not in terms[0][:2]


# -- quantities and polarity ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def nlp():
    from kb.text import load_spacy

    return load_spacy(full=True)


def _facts(nlp, text):
    from kb.insights.quantities import facts

    return facts(nlp(text))


@pytest.mark.parametrize("text, expected", [
    ("Refunds take 3-5 working days.", [("working_days", "days", 3.0), ("working_days", "days", 5.0)]),
    ("Report damage within 48 hours.", [("duration", "hours", 48.0)]),
    ("Report damage within two days.", [("duration", "hours", 48.0)]),
    ("Goodwill up to £20 yourself.", [("money", "GBP", 20.0)]),
    ("A 10% discount applies.", [("percent", "%", 10.0)]),
    ("Order by 5pm for next-day delivery.", [("clock", "time", 17.0)]),
    ("Ask for three photos.", [("count", "photo", 3.0)]),
    ("See BC-ORD-7702915 from 12/03/2026, step 3 of sop-returns, in 2026.", []),
    ("Collections are free (no £3.95 fee).", [("money", "", 0.0)]),
])
def test_quantities_normalised(nlp, text, expected):
    got = [(q.kind, q.unit, q.value) for q in _facts(nlp, text).quantities]
    assert got == expected


def test_compare_finds_differences_not_elaborations(nlp):
    from kb.insights.quantities import compare

    def diff(a, b, strong=False):
        return [(d.kind, d.what, d.a, d.b) for d in compare(_facts(nlp, a), _facts(nlp, b), strong=strong)]

    assert diff("Refunds are made within 14 days.", "Refunds are made within 30 days.") == [
        ("quantity", "duration", "14 days", "30 days")]
    assert diff("Report it within 48 hours.", "Report it within two days.") == []  # the same amount
    assert diff("Goodwill up to £20 yourself, £20-£100 via team leader.", "Goodwill up to £20 yourself.") == []
    assert diff("Agents can waive the fee.", "Agents cannot waive the fee.") == [
        ("polarity", "waive", "can waive", "cannot waive")]
    assert diff("Agents must share the code.", "Agents must not share the code.")[0][:2] == ("polarity", "share")
    assert diff("If the seller does not respond, escalate.", "The seller must respond.") == []  # a condition
    # amounts tied to different things differ only when the sentences are near paraphrases
    assert diff("Promised dates are 3-5 business days.", "More than 2 business days late: the parcel is late.") == []


# -- charts --------------------------------------------------------------------------------------
def test_charts_are_svg_with_tables():
    charts = [
        line_chart({"North": [("2026-11-02", 80.0), ("2026-11-09", None), ("2026-11-16", 70.0)],
                    "South <&>": [("2026-11-02", 50.0)]}, title="Trend & more", y_max=100),
        histogram([5, 15, 15, 95, 100], title="Scores", bins=10, lo=0, hi=100),
        bar_chart([("a very long criterion label that needs cutting short", 3), ("b", 1)], title="Top"),
        bar_chart([], title="Nothing"),
    ]
    for c in charts:
        root = ElementTree.fromstring(c.svg)
        assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}title").text == c.title
        assert c.csv().splitlines()[0] == ",".join(c.columns)
    assert [r["count"] for r in charts[1].rows] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert "South &lt;&amp;&gt;" in charts[0].svg
    assert to_csv([{"a": 1.23456, "b": ["x", "y"], "c": None}]) == "a,b,c\n1.2346,x | y,\n"
