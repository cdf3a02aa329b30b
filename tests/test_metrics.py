import numpy as np
import pytest

from headstart.metrics import evaluate


def test_a_true_label_the_model_never_learnt_is_shown_not_hidden():
    report = evaluate(["a", "b", "c", "c"], ["a", "b", "a", "b"], labels=["a", "b"])
    assert report["labels"] == ["a", "b", "c"] and report["unseen_labels"] == {"c": 2}
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert report["accuracy"] == 0.5 and report["confusion_matrix"][2] == [1, 1, 0]


def test_calibration_measures_the_gap_between_confidence_and_accuracy():
    # Always 90% sure of "a", right half the time: overconfident by 0.4.
    proba = np.array([[0.9, 0.1]] * 4)
    calibration = evaluate(["a", "b", "a", "b"], ["a"] * 4, labels=["a", "b"], proba=proba)["calibration"]
    assert calibration["expected_calibration_error"] == pytest.approx(0.4)
    assert calibration["log_loss"] == pytest.approx((-np.log(0.9) - np.log(0.1)) / 2)
    assert calibration["bins"] == [{"from": 13 / 15, "to": 14 / 15, "examples": 4, "confidence": 0.9, "accuracy": 0.5}]
    # Sure and right: no gap; 60% sure and always right: 0.4, for 4 of the 6 scored examples. The unseen label "c"
    # is left out, not scored as -log 0.
    proba = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.4, 0.6], [0.5, 0.5]])
    truth = ["a", "b", "a", "a", "a", "b", "c"]
    calibration = evaluate(truth, ["a", "b", "a", "a", "a", "b", "a"], labels=["a", "b"], proba=proba)["calibration"]
    assert calibration["examples"] == 6 and calibration["expected_calibration_error"] == pytest.approx(0.4 / 6 * 4)


def test_macro_f1_leaves_out_classes_with_no_example_and_no_prediction():
    report = evaluate(["a", "a", "b", "b"], ["a", "a", "b", "b"], labels=["a", "b", "c", "d"])
    assert report["macro_f1"] == 1.0 and report["per_class"]["c"]["support"] == 0
    assert evaluate(["a", "b"], ["a", "c"], labels=["a", "b", "c"])["macro_f1"] == pytest.approx(1 / 3)
