"""Calibration and thresholds: temperature scaling recovers a known temperature and lowers ECE, each threshold
rule does what it promises on the data it was chosen on (hypothesis), the decision is stored in every checkpoint
and round-trips, checkpoints from before calibration still load (T = 1, method "legacy"), and `lab calibrate`,
`lab eval` and `lab predict` use and name the stored rule."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.cli.main import main as lab_main
from lab.evaluation.calibration import T_MAX, T_MIN, decide, fit_temperature, same_cut
from lab.evaluation.evaluate import evaluate_split
from lab.evaluation.metrics import choose_threshold, expected_calibration_error
from lab.evaluation.thresholds import rates, select_threshold, threshold_eer, threshold_target_fpr
from lab.runtime.checkpoint import atomic_save, load_model, read_checkpoint
from lab.scoring.decision import Decision, checkpoint_decision, probabilities

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def calibrated_sample(n: int, seed: int, spread: float = 2.0):
    """Labels drawn from a perfectly calibrated model: y ~ Bernoulli(sigmoid(z)); logits (N, 2) = [0, z]."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, spread, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, np.stack([np.zeros(n), z], axis=1)


@FAST
@given(scale=st.floats(0.4, 5.0), seed=st.integers(0, 2**16))
def test_temperature_recovers_the_scale_of_overconfident_logits(scale, seed):
    y, logits = calibrated_sample(2000, seed)
    fit = fit_temperature(y, logits * scale)  # a calibrated model's logits times `scale`
    assert fit.fitted and fit.temperature == pytest.approx(scale, rel=0.15)
    assert fit.nll_calibrated <= fit.nll_raw + 1e-9


def test_temperature_three_lowers_ece_and_nll():
    y, logits = calibrated_sample(20000, seed=0)
    fit = fit_temperature(y, logits * 3.0)
    assert fit.temperature == pytest.approx(3.0, rel=0.05)
    assert fit.ece_calibrated < fit.ece_raw / 3 and fit.nll_calibrated < fit.nll_raw
    scores = probabilities(torch.as_tensor(logits * 3.0), fit.temperature).numpy()
    assert expected_calibration_error(y, scores) == pytest.approx(fit.ece_calibrated)


def test_separable_validation_leaves_the_temperature_undetermined():
    y = np.array([0, 0, 1, 1])
    fit = fit_temperature(y, np.array([[1.0, -1.0], [0.5, 0.0], [0.0, 0.4], [-2.0, 2.0]]))
    assert (fit.temperature, fit.fitted) == (1.0, False) and "separated" in fit.note
    nearly = fit_temperature(np.array([0, 0, 1, 1, 0]), np.array([[0, -3.0], [0, -2.0], [0, 2.0], [0, 3.0], [0, 2.5]]))
    assert nearly.fitted and T_MIN <= nearly.temperature <= T_MAX  # one overlap: a minimum exists


scores_and_labels = st.integers(2, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 20).map(lambda k: k / 20), min_size=n, max_size=n),  # coarse: ties happen
    st.lists(st.integers(0, 1), min_size=n, max_size=n)).filter(lambda t: 0 < sum(t[1]) < len(t[1])))


def _cuts(scores):
    return sorted(set(scores)) + [np.nextafter(max(scores), np.inf)]


@FAST
@given(data=scores_and_labels, target=st.floats(0.0, 0.6))
def test_target_fpr_threshold_is_the_highest_recall_cut_within_the_target(data, target):
    scores, labels = data
    t = threshold_target_fpr(labels, scores, target)
    fpr, recall = rates(labels, scores, t)
    assert fpr <= target + 1e-12
    for cut in _cuts(scores):
        cut_fpr, cut_recall = rates(labels, scores, cut)
        if cut_fpr <= target + 1e-12:
            assert cut_recall <= recall and (cut_recall < recall or cut_fpr >= fpr)


@FAST
@given(data=scores_and_labels)
def test_eer_threshold_balances_the_two_error_rates(data):
    scores, labels = data
    t = threshold_eer(labels, scores)
    fpr, recall = rates(labels, scores, t)
    gap = abs(fpr - (1 - recall))
    for cut in _cuts(scores):
        cut_fpr, cut_recall = rates(labels, scores, cut)
        assert gap <= abs(cut_fpr - (1 - cut_recall)) + 1e-12


@FAST
@given(seed=st.integers(0, 2**16), temperature=st.floats(0.2, 5.0),
       method=st.sampled_from(["youden", "eer", "target_fpr"]))
def test_the_calibrated_and_the_plain_threshold_flag_the_same_windows(seed, temperature, method):
    y, logits = calibrated_sample(60, seed)
    if len(set(y)) < 2:
        return
    logits_t = torch.as_tensor(logits, dtype=torch.float32)
    calibrated, raw = probabilities(logits_t, temperature).numpy(), probabilities(logits_t, 1.0).numpy()
    t = select_threshold(y, raw, method, 0.05)["value"]
    assert np.array_equal(calibrated >= same_cut(t, raw, calibrated), raw >= t)
    assert np.array_equal(raw >= same_cut(same_cut(t, raw, calibrated), calibrated, raw), raw >= t)


def test_youden_is_the_rule_training_always_used():
    y, logits = calibrated_sample(300, seed=1)
    scores = probabilities(torch.as_tensor(logits), 1.0).numpy()
    assert select_threshold(y, scores, "youden")["value"] == choose_threshold(y, scores)
    decision, calibration, raw_cut = decide(y, logits, "youden", temperature_scaling=False)
    assert (decision.temperature, decision.calibrated, raw_cut) == (1.0, False, decision.threshold)
    decision, calibration, raw_cut = decide(y, logits * 3.0, "youden")  # calibrated: the same cut, restated
    assert calibration.fitted and raw_cut == choose_threshold(y, probabilities(torch.as_tensor(logits * 3.0)).numpy())
    fpr, recall = rates(y, probabilities(torch.as_tensor(logits * 3.0), decision.temperature).numpy(),
                        decision.threshold)
    assert (decision.val_fpr, decision.val_recall) == (fpr, recall)


# ------------------------------------------------------------------------------- checkpoints and commands


def test_training_stores_the_decision_and_it_matches_its_plain_threshold(tiny_checkpoint, synth_root):
    ckpt = read_checkpoint(tiny_checkpoint)
    decision = checkpoint_decision(ckpt)
    assert decision.method == "youden" and decision.temperature > 0 and ckpt["calibration"]["n_windows"] > 0
    assert {"ece_raw", "ece_calibrated", "temperature"} <= set(ckpt["calibration"])
    assert Decision.from_dict(decision.to_dict()) == decision
    model, cfg, _ = load_model(tiny_checkpoint)
    new = evaluate_split(model, cfg, synth_root / "val", "cpu", threshold=decision, progress=False)
    old = evaluate_split(model, cfg, synth_root / "val", "cpu", threshold=ckpt["threshold"], progress=False)
    # the plain `threshold` (for code that scores with T = 1) separates the same validation windows
    assert np.array_equal(new.windows["prob_fake"] >= decision.threshold, old.windows["prob_fake"] >= ckpt["threshold"])
    cal = new.metrics["calibration"]
    assert cal["temperature"] == decision.temperature and new.metrics["decision"]["method"] == "youden"
    assert cal["ece_raw"] == pytest.approx(old.metrics["clip"]["ece"])
    assert cal["ece_calibrated"] == pytest.approx(new.metrics["clip"]["ece"])


def _old_format(src, dst):
    """The checkpoint as versions before calibration wrote it: a float threshold, no decision, no new keys."""
    ckpt = read_checkpoint(src)
    for key in ("decision", "calibration"):
        ckpt.pop(key)
    for key in ("temperature_scaling", "threshold", "target_fpr"):
        ckpt["config"]["training"].pop(key)
    atomic_save(ckpt, dst)
    return dst


def test_calibrate_eval_and_predict_name_the_stored_rule(capsys, tiny_checkpoint, synth_root, tmp_path):
    old = _old_format(tiny_checkpoint, tmp_path / "old.pth")
    legacy = checkpoint_decision(read_checkpoint(old))
    assert (legacy.method, legacy.temperature) == ("legacy", 1.0)
    video = next((synth_root / "test").rglob("*.mp4"))

    def lab(*args) -> str:
        code = lab_main([str(a) for a in args] + ["--no-progress"] * (args[0] != "predict"))
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    assert re.search(r"at threshold \d\.\d\d \(legacy, T=1\)$", lab("predict", video, "--checkpoint", old).strip())

    out = lab("calibrate", "--checkpoint", old, "--target-fpr", "0.34", "--json")
    result = json.loads(out)
    written = tmp_path / "old.calibrated.pth"  # beside the checkpoint; the old file is untouched
    assert result["checkpoint"] == str(written) and result["previous"]["method"] == "legacy"
    stored = checkpoint_decision(read_checkpoint(written))
    assert stored.method == "target_fpr" and stored.target_fpr == 0.34 and stored.val_fpr <= 0.34
    assert read_checkpoint(written)["config"]["training"]["threshold"] == "target_fpr"
    assert "decision" not in read_checkpoint(old)

    code = lab_main(["calibrate", "--checkpoint", str(old), "--no-progress"])  # would replace old.calibrated.pth
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: checkpoint already exists") and "--overwrite" in err

    assert "(target_fpr 0.34, T=" in lab("predict", video, "--checkpoint", written)
    assert re.search(r"at threshold 0\.70 \(override, T=", lab("predict", video, "--checkpoint", written,
                                                                "--threshold", "0.7"))
    out = lab("eval", "--checkpoint", written, "--data-dir", synth_root / "test", "--out", tmp_path / "rep")
    assert "target FPR 0.34 on validation" in out and "ECE" in out
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["decision"]["method"] == "target_fpr"
    assert {"temperature", "ece_raw", "ece_calibrated"} <= set(metrics["calibration"])
    assert "temperature" in (tmp_path / "rep" / "report.md").read_text()
