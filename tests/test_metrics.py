from headstart.metrics import evaluate


def test_a_true_label_the_model_never_learnt_is_shown_not_hidden():
    report = evaluate(["a", "b", "c", "c"], ["a", "b", "a", "b"], labels=["a", "b"])
    assert report["labels"] == ["a", "b", "c"] and report["unseen_labels"] == {"c": 2}
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert report["accuracy"] == 0.5 and report["confusion_matrix"][2] == [1, 1, 0]
