"""IntentClassifier: scikit-learn contract, fast path parity, explanations."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

from router.ml._features import analyse_one, sparse_dot
from router.ml.classifier import IntentClassifier

ODD_TEXTS = [
    "",
    "???",
    "my card   was\tstolen!!",
    "I can't top-up £100 via Apple Pay?",
    "ÜBER café — naïve résumé €5",
    "İstanbul ATM took my card",
    "a b c d e f g h",
    "x",
    "card card card card",
]


def test_init_only_stores_params_and_clone_works() -> None:
    clf = IntentClassifier(C=0.3, char_ngram_range=(2, 4), pair_window=0)
    params = clf.get_params()
    assert params["C"] == 0.3 and params["char_ngram_range"] == (2, 4) and params["pair_window"] == 0
    cloned = clone(clf)
    assert cloned.get_params() == params
    assert cloned.set_params(C=2.0) is cloned and cloned.C == 2.0 and clf.C == 0.3
    assert not any(k.endswith("_") for k in vars(clf))
    tags = clf.__sklearn_tags__()
    assert tags.estimator_type == "classifier" and tags.input_tags.string and not tags.input_tags.two_d_array


def test_fit_returns_self_and_sets_learned_attributes(small_clf: IntentClassifier, small_data) -> None:
    _, labels = small_data
    assert list(small_clf.classes_) == sorted(set(labels))
    assert 0.0 < small_clf.temperature_ < 10.0
    assert small_clf.fast_coef_.shape == (len(small_clf.fast_idf_), len(small_clf.classes_))
    # a clone of a fitted estimator is unfitted
    with pytest.raises(NotFittedError):
        clone(small_clf).predict_proba(["my card"])


def test_input_validation() -> None:
    clf = IntentClassifier(calibration_cv=0)
    with pytest.raises(TypeError):
        clf.fit("just one string", ["a"])
    with pytest.raises(TypeError):
        clf.fit(["ok", 3], ["a", "b"])
    with pytest.raises(ValueError, match="same length"):
        clf.fit(["a", "b", "c"], ["x", "y"])
    with pytest.raises(ValueError, match="two distinct"):
        clf.fit(["a", "b"], ["x", "x"])
    with pytest.raises(ValueError, match="linear_model"):
        IntentClassifier(linear_model="tree", calibration_cv=0).fit(["a b", "c d"], ["x", "y"])


def test_grid_search_on_subset(small_data) -> None:
    texts, labels = small_data
    grid = GridSearchCV(IntentClassifier(calibration_cv=2, pair_window=0), {"C": [0.1, 1.0]}, cv=2, scoring="accuracy")
    grid.fit(texts, labels)
    assert grid.best_params_["C"] in (0.1, 1.0)
    assert grid.best_score_ > 0.7
    proba = grid.predict_proba(texts[:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(axis=1), 1.0)


def test_predict_proba_columns_follow_classes(small_clf: IntentClassifier, small_test) -> None:
    texts, labels = small_test
    proba = small_clf.predict_proba(texts)
    assert proba.shape == (len(texts), len(small_clf.classes_))
    assert np.allclose(proba.sum(axis=1), 1.0)
    pred = small_clf.predict(texts)
    assert (pred == small_clf.classes_[proba.argmax(axis=1)]).all()
    assert (pred == np.asarray(labels)).mean() > 0.85
    scores = small_clf.decision_function(texts)
    assert (scores.argmax(axis=1) == proba.argmax(axis=1)).all()


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_fast_tokeniser_matches_vectorizers(small_clf: IntentClassifier, text: str) -> None:
    analysis = analyse_one(text, small_clf.fast_blocks_)
    expected: Counter[int] = Counter()
    offset = 0
    for _, vec, _ in small_clf.vectorizers_:
        analyzer = vec.build_analyzer()
        expected.update(offset + vec.vocabulary_[t] for t in analyzer(text) if t in vec.vocabulary_)
        offset += len(vec.vocabulary_)
    assert Counter(analysis.feats) == expected
    assert len(analysis.words) == len(text.split())


def test_fast_path_equals_predict_proba(small_clf: IntentClassifier, small_test) -> None:
    texts = small_test[0] + ODD_TEXTS
    batch = small_clf.predict_proba(texts)
    fast = np.array([small_clf.predict_proba_one(t) for t in texts])
    assert np.allclose(fast, batch, rtol=1e-9, atol=1e-12)
    proba, _ = small_clf.predict_one_explained(texts[0])
    assert np.allclose(proba, batch[0])


def test_explanation_uses_the_tickets_own_words(small_clf: IntentClassifier, small_test) -> None:
    for text in [*small_test[0][:100], "My CARD was Stolen yesterday!"]:
        proba = small_clf.predict_proba_one(text)
        expl = small_clf.explain(text, int(proba.argmax()), k=5)
        assert set(expl) == {"toward", "against", "reference"}
        assert len(expl["toward"]) <= 5 and len(expl["against"]) <= 5
        for item in expl["toward"]:
            assert item["word"] in text and item["weight"] > 0
        for item in expl["against"]:
            assert item["word"] in text and item["weight"] < 0
        weights = [i["weight"] for i in expl["toward"]]
        assert weights == sorted(weights, reverse=True)


def test_explanation_points_at_the_obvious_word(small_clf: IntentClassifier) -> None:
    text = "My CARD was Stolen yesterday!"
    proba = small_clf.predict_proba_one(text)
    assert small_clf.classes_[proba.argmax()] == "lost_or_stolen_card"
    expl = small_clf.explain(text, int(proba.argmax()))
    words = [i["word"] for i in expl["toward"]]
    assert "CARD" in words[:2]  # vs. the runner-up lost_or_stolen_phone, "card" decides
    assert "Stolen" in words
    # explaining a non-top class uses the top class as the reference
    other = int(np.argsort(proba)[-3])
    assert small_clf.explain(text, other)["reference"] == "lost_or_stolen_card"
    top = int(proba.argmax())
    assert small_clf.explain(text, top, k=0) == {"toward": [], "against": [], "reference": expl["reference"]}
    with pytest.raises(IndexError):
        small_clf.explain(text, 99)


def test_empty_text_scores_intercept_only(small_clf: IntentClassifier) -> None:
    assert np.allclose(small_clf.predict_proba_one(""), small_clf.predict_proba([""])[0])
    assert small_clf.explain("", 0)["toward"] == []


def test_pickle_round_trip(small_clf: IntentClassifier, small_test) -> None:
    texts = small_test[0][:50]
    again = pickle.loads(pickle.dumps(small_clf))
    assert np.array_equal(again.predict_proba(texts), small_clf.predict_proba(texts))
    assert np.array_equal(again.predict_proba_one(texts[0]), small_clf.predict_proba_one(texts[0]))


def test_artefact_older_than_class_weighting_loads(small_clf: IntentClassifier, small_test) -> None:
    texts = small_test[0][:20]
    old = pickle.loads(pickle.dumps(small_clf))
    del old.__dict__["class_weight"]  # as pickled before the parameter existed
    again = pickle.loads(pickle.dumps(old))
    assert again.get_params()["class_weight"] is None  # what such a model was trained with
    assert np.array_equal(again.predict_proba(texts), small_clf.predict_proba(texts))


def test_class_weight_reaches_the_linear_model(small_data) -> None:
    rare = small_data[1][0]
    rows = [i for i, lab in enumerate(small_data[1]) if lab != rare or i % 4 == 0]  # one intent cut to a quarter
    texts, labels = [small_data[0][i] for i in rows], [small_data[1][i] for i in rows]
    assert IntentClassifier().class_weight == "balanced"
    plain = IntentClassifier(class_weight=None, calibration_cv=0, pair_window=0).fit(texts, labels)
    weighted = IntentClassifier(calibration_cv=0, pair_window=0).fit(texts, labels)
    rare_col = list(plain.classes_).index(rare)
    # the rare intent's examples weigh more, so it scores higher than without weights
    assert weighted.predict_proba(texts)[:, rare_col].mean() > plain.predict_proba(texts)[:, rare_col].mean()


def test_binary_problem_and_no_calibration() -> None:
    texts = ["card stolen", "my card was stolen", "lost my card", "exchange rate", "what rate", "fx rate"]
    labels = ["card", "card", "card", "fx", "fx", "fx"]
    clf = IntentClassifier(calibration_cv=0, pair_window=0).fit(texts, labels)
    assert clf.temperature_ == 1.0
    assert clf.decision_function(texts).shape == (6,)
    assert list(clf.predict(["stolen card", "the rate"])) == ["card", "fx"]
    assert np.allclose(clf.predict_proba_one("stolen card"), clf.predict_proba(["stolen card"])[0])
    calibrated = IntentClassifier(calibration_cv=3, pair_window=0, random_state=1).fit(texts, labels)
    assert calibrated.temperature_ != 1.0


def test_logreg_variant_and_determinism(small_data) -> None:
    texts, labels = small_data
    a = IntentClassifier(linear_model="logreg", C=10.0, calibration_cv=2).fit(texts, labels)
    b = IntentClassifier(linear_model="logreg", C=10.0, calibration_cv=2).fit(texts, labels)
    assert np.allclose(a.predict_proba(texts[:20]), b.predict_proba(texts[:20]))
    assert np.allclose(a.predict_proba_one(texts[3]), a.predict_proba([texts[3]])[0])


def test_sparse_dot_handles_empty_rows() -> None:
    rng = np.random.default_rng(0)
    dense = rng.random((7, 5)) * (rng.random((7, 5)) > 0.5)
    dense[[0, 3, 6]] = 0.0  # empty first, middle and last rows
    coef = rng.standard_normal((5, 3)).astype(np.float32)
    expected = dense @ coef.astype(np.float64)
    for chunk in (1, 2, 3, 256):
        assert np.allclose(sparse_dot(sp.csr_matrix(dense), coef, chunk_rows=chunk), expected)
