import numpy as np
import pandas as pd
import pytest

from taskfair.data import (CIVIL_COMMENTS_GROUPS, MHS_SUBGROUPS, REDDITBIAS_GROUPS, DataError,
                           dataset_from_frame, load_civil_comments, load_measuring_hate_speech,
                           load_table, split_dataset)


# ---------------------------------------------------------------- embedded RedditBias

def test_redditbias_is_cleaned_into_five_groups(redditbias):
    d = redditbias
    assert d.groups == REDDITBIAS_GROUPS
    assert 11_000 < len(d) < 12_000
    assert set(np.unique(d.labels)) == {0, 1}
    assert d.membership.dtype == bool and d.membership.any(axis=1).all()
    sizes = d.group_sizes().set_index("group")["rows"]
    assert (sizes > 1500).all()
    assert all(t and t == t.strip() for t in d.texts)
    assert len(set(d.texts)) == len(d.texts)


def test_redditbias_reports_what_it_dropped(redditbias):
    d = redditbias
    assert d.dropped["bias_sent missing or not 0/1"] > 10_000
    assert d.dropped["duplicate comment within a group file"] > 0
    # the religion file with a non-UTF-8 byte is read, not skipped
    assert any("non-UTF-8" in n and n.startswith("jews") for n in d.notes)
    assert "dropped" in d.report() and "jews" in d.report()


def test_redditbias_comment_in_two_files_is_one_row_in_two_groups(redditbias):
    both = redditbias.membership.sum(axis=1) > 1
    assert both.sum() >= 1
    j, m = REDDITBIAS_GROUPS.index("jews"), REDDITBIAS_GROUPS.index("muslims")
    assert (redditbias.membership[both][:, [j, m]].all(axis=1)).any()


def test_redditbias_unknown_group():
    from taskfair import load_redditbias
    with pytest.raises(DataError, match="christians"):
        load_redditbias(["female", "christians"])


# ---------------------------------------------------------------- splits

def test_split_is_seeded_disjoint_and_stratified(redditbias):
    a = split_dataset(redditbias, seed=13)
    b = split_dataset(redditbias, seed=13)
    c = split_dataset(redditbias, seed=14)
    assert a.test.texts == b.test.texts and a.test.texts != c.test.texts
    sets = [set(p.texts) for _, p in a]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sum(map(len, sets)) == len(redditbias)
    assert abs(len(a.test) / len(redditbias) - 0.2) < 0.005
    rate = redditbias.labels.mean()
    for _, part in a:
        assert abs(part.labels.mean() - rate) < 0.01


def test_group_absent_from_a_split_is_named():
    df = pd.DataFrame({"text": [f"t{i}" for i in range(40)], "label": [0, 1] * 20,
                       "groups": ["a"] * 39 + ["rare"]})
    d = dataset_from_frame(df, name="toy", group_column="groups")
    with pytest.raises(DataError, match=r"\['rare'\].*split"):
        split_dataset(d, seed=0)
    split_dataset(d, seed=0, require_groups=False)


# ---------------------------------------------------------------- Measuring Hate Speech

def _mhs_fixture() -> pd.DataFrame:
    """Schema-faithful rows of ucberkeley-dlab/measuring-hate-speech: one row per annotation,
    hence repeated texts; target_* booleans; a continuous hate_speech_score."""
    rows = []
    gender_cols = [f"target_gender_{s}" for s in MHS_SUBGROUPS["gender"]]
    race_cols = [f"target_race_{s}" for s in MHS_SUBGROUPS["race"]]

    def row(cid, text, score, gender=(), race=()):
        r = {"comment_id": cid, "annotator_id": len(rows), "text": text,
             "hate_speech_score": score, "target_gender": bool(gender), "target_race": bool(race)}
        r.update({c: c.removeprefix("target_gender_") in gender for c in gender_cols})
        r.update({c: c.removeprefix("target_race_") in race for c in race_cols})
        rows.append(r)

    row(1, "women should not vote", 1.2, gender=("women",))
    row(1, "women should not vote", -0.3, gender=("women",))        # second annotation: dropped
    row(2, "men are trash", 0.7, gender=("men",))
    row(3, "trans women are women", -2.0, gender=("transgender_women", "women"))
    row(4, "nice weather today", -3.0)                                 # targets nothing: dropped
    row(5, "go back to your country", 0.9, race=("latinx", "middle_eastern"))
    row(6, "asian drivers lol", 0.5, race=("asian",), gender=("women",))  # 0.5 is not > 0.5
    row(7, "non binary folks exist", -1.0, gender=("non_binary",))
    # one more row for every subgroup so each occurs
    for attr, subs in MHS_SUBGROUPS.items():
        for i, sub in enumerate(subs):
            kw = {attr: (sub,)}
            row(100 + len(rows), f"about {sub} {attr} {i}", -0.5 + i * 0.4, **kw)
    return pd.DataFrame(rows)


@pytest.fixture
def mhs_file(tmp_path):
    path = tmp_path / "mhs.parquet"
    _mhs_fixture().to_parquet(path)
    return path


def test_mhs_gender_protocol(mhs_file):
    d = load_measuring_hate_speech(mhs_file, attribute="gender")
    assert d.groups == MHS_SUBGROUPS["gender"]
    assert d.texts[:5] == ("women should not vote", "men are trash", "trans women are women",
                           "asian drivers lol", "non binary folks exist")
    assert len(d) == 5 + len(MHS_SUBGROUPS["gender"])
    assert d.labels[:5].tolist() == [1, 1, 0, 0, 0]  # first annotation kept; score > 0.5
    row = d.texts.index("trans women are women")
    member = dict(zip(d.groups, d.membership[row]))
    assert member["transgender_women"] and member["women"] and not member["men"]
    assert d.dropped["duplicate text (kept the first annotation)"] == 1
    assert d.dropped["target_gender is false"] == 2 + len(MHS_SUBGROUPS["race"])


def test_mhs_race_protocol_multi_membership(mhs_file):
    d = load_measuring_hate_speech(mhs_file, attribute="race")
    assert d.texts[:2] == ("go back to your country", "asian drivers lol")
    assert d.group_sizes().set_index("group").loc["asian", "rows"] == 2
    row = dict(zip(d.groups, d.membership[0]))
    assert row["latinx"] and row["middle_eastern"] and not row["white"]


def test_mhs_missing_column_is_named(tmp_path):
    df = _mhs_fixture().drop(columns=["target_race_white"])
    path = tmp_path / "mhs.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match="target_race_white"):
        load_measuring_hate_speech(path, attribute="race")
    with pytest.raises(DataError, match="attribute"):
        load_measuring_hate_speech(path, attribute="age")


# ---------------------------------------------------------------- Civil Comments

def test_civil_comments_thresholds(tmp_path):
    df = pd.DataFrame({
        "comment_text": ["he is dumb", "she is smart", "they are trans", "no identity", "unannotated"],
        "toxicity": [0.8, 0.1, 0.5, 0.9, 0.7],
        "male": [0.9, 0.0, 0.0, 0.0, np.nan], "female": [0.0, 0.6, 0.0, 0.2, np.nan],
        "transgender": [0.0, 0.0, 1.0, 0.0, np.nan], "other_gender": [0.0, 0.5, 0.0, 0.0, np.nan],
    })
    path = tmp_path / "all_data.csv"
    df.to_csv(path, index=False)
    d = load_civil_comments(path)
    assert d.groups == CIVIL_COMMENTS_GROUPS
    assert d.texts == ("he is dumb", "she is smart", "they are trans")
    assert d.labels.tolist() == [1, 0, 1]  # toxicity >= 0.5
    assert d.membership[1].tolist() == [False, True, False, True]
    assert list(d.dropped.values()) == [2]


# ---------------------------------------------------------------- any table

def test_table_with_multi_group_cells(tmp_path):
    path = tmp_path / "mine.csv"
    pd.DataFrame({"comment": ["a b", "c d", "e f"], "is_hate": [1, 0, 1],
                  "who": ["women|black", "men", ""]}).to_csv(path, index=False)
    d = load_table(path, text_column="comment", label_column="is_hate", group_column="who")
    assert d.groups == ("black", "men", "women")
    assert d.membership.tolist() == [[True, False, True], [False, True, False], [False, False, False]]
    d2 = load_table(path, text_column="comment", label_column="is_hate", group_column="who",
                    groups=["women", "men"])
    assert d2.groups == ("women", "men")


def test_table_with_group_columns():
    df = pd.DataFrame({"text": ["x", "y"], "label": [True, False], "g1": [1, 0], "g2": [1, 1]})
    d = dataset_from_frame(df, name="t", group_columns=["g1", "g2"])
    assert d.labels.tolist() == [1, 0] and d.membership.tolist() == [[True, True], [False, True]]


@pytest.mark.parametrize("change, pattern", [
    (lambda df: df.drop(columns=["label"]), r"missing label column.*\['label'\].*available"),
    (lambda df: df.assign(text=["ok", "  ", "x"]), r"text column 'text' is empty.*row 1"),
    (lambda df: df.assign(text=["ok", None, "x"]), r"non-text values.*row 1"),
    (lambda df: df.assign(label=[0, 2, 1]), r"not binary.*'2'"),
    (lambda df: df.assign(label=[0, np.nan, 1]), r"empty/NaN.*row 1"),
    (lambda df: df.assign(label=["hate", "ok", "ok"]), r"not binary"),
    (lambda df: df.assign(g=[1, 0, 0], h=[0, 0, 0]), r"\['h'\] have no rows"),
    (lambda df: df.assign(g=["yes", 0, 0]), r"group column 'g' is not boolean"),
])
def test_bad_tables_get_clear_errors(change, pattern):
    df = pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 1], "g": [1, 1, 0], "h": [0, 1, 1]})
    with pytest.raises(DataError, match=pattern):
        dataset_from_frame(change(df), name="mine", group_columns=["g", "h"])


def test_configured_group_that_does_not_occur():
    df = pd.DataFrame({"text": ["a", "b"], "label": [0, 1], "who": ["x", "y"]})
    with pytest.raises(DataError, match=r"\['z'\] do not occur.*\['x', 'y'\]"):
        dataset_from_frame(df, name="mine", group_column="who", groups=["x", "z"])


def test_missing_file_and_type(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_table(tmp_path / "nope.csv", group_column="g")
    bad = tmp_path / "data.xlsx"
    bad.write_text("x")
    with pytest.raises(DataError, match="unsupported file type"):
        load_table(bad, group_column="g")


def test_duplicate_texts_never_cross_splits():
    rng = np.random.default_rng(0)
    texts = [f"comment number {i}" for i in range(200)]
    # every fourth comment appears again, re-cased and re-spaced, sometimes with the other label
    dups = [t.upper().replace(" ", "   ") + " " for t in texts[::4]]
    labels = list(rng.integers(0, 2, 200)) + list(rng.integers(0, 2, len(dups)))
    df = pd.DataFrame({"text": texts + dups, "label": labels, "g": rng.integers(0, 2, 250),
                       "h": [1] * 250})
    d = dataset_from_frame(df, name="dups", group_columns=["g", "h"])
    for seed in range(5):
        sp = split_dataset(d, seed=seed)
        seen = {}
        for name, part in sp:
            for t in part.texts:
                key = " ".join(t.lower().split())
                assert seen.setdefault(key, name) == name, f"{t!r} is in {seen[key]} and {name}"
        assert sum(len(p) for _, p in sp) == len(d)


def test_intersectional_groups_with_a_minimum_size():
    from taskfair.data import Dataset, intersect
    texts = tuple(f"t{i}" for i in range(10))
    labels = np.array([0, 1] * 5)
    gender = Dataset("g", texts, labels, np.array([[i < 6, i >= 6] for i in range(10)]), ("women", "men"))
    race = Dataset("r", texts[:8] + ("other1", "other2"), labels,
                   np.array([[i % 2 == 0, i % 2 == 1] for i in range(10)]), ("black", "asian"))
    d = intersect(gender, race, min_size=2)
    # rows shared: t0..t7; women & black = t0,t2,t4; women & asian = t1,t3,t5; men & black = t6; men & asian = t7
    assert d.groups == ("women-black", "women-asian")
    assert d.group_sizes()["rows"].tolist() == [3, 3]
    assert any("men-black (1 rows)" in n for n in d.notes)
    assert d.dropped["in no kept intersection"] == 2
    everything = intersect(gender, race, min_size=0)
    assert len(everything.groups) == 4 and len(everything) == 8
    with pytest.raises(DataError, match="lower dataset.min_group_size"):
        intersect(gender, race, min_size=50)


def test_mhs_gender_by_race_intersections(tmp_path):
    from taskfair.data import intersect
    path = tmp_path / "mhs.parquet"
    _mhs_fixture().to_parquet(path)
    both = intersect(load_measuring_hate_speech(path, attribute="gender"),
                     load_measuring_hate_speech(path, attribute="race"), min_size=1)
    assert "women-asian" in both.groups
    row = both.texts.index("asian drivers lol")
    assert both.membership[row, both.groups.index("women-asian")]
