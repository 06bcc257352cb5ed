"""Ground-truth SAE evaluation (issue 20) on known answers: planted attribute vectors, an SAE whose decoder is the
supervised dictionary, a random SAE, a hand-built absorption case, the planted IOI circuit, corpus labels."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from interp.analysis.probes import LogisticProbe
from interp.errors import InputError
from saes import SAEConfig, build_sae
from saes.ground_truth import (
    SupervisedDictionary,
    edit_score,
    f1_ranking,
    first_letter_absorption,
    greedy_edit,
    latent_f1,
    sparse_probing,
    swap_edit,
)

D, SIGMA = 64, 0.05


def planted(n: int = 2400, seed: int = 0, values=(4, 3)):
    """Activations mean + sum of planted attribute vectors (orthogonal, norm 3) + Gaussian noise; labels; the
    planted vectors. The two attributes are crossed and balanced (every pair of values equally often), as the IOI
    prompts are built."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(D, generator=g)
    basis = 3 * torch.linalg.qr(torch.randn(D, D, generator=g))[0].T
    vecs = {"a0": basis[: values[0]], "a1": basis[values[0] : values[0] + values[1]]}
    labels = {"a0": [str(i % values[0]) for i in range(n)], "a1": [str(i // values[0] % values[1]) for i in range(n)]}
    noise = SIGMA * torch.randn(n, D, generator=g)
    acts = mean + noise + sum(v[[int(x) for x in labels[a]]] for a, v in vecs.items())
    return acts, labels, vecs, noise, mean


def counterfactual(acts, labels, vecs, attr: str, seed: int = 1):
    """Each row with ``attr`` moved to another value (same noise): the edit's exact target."""
    rng = random.Random(seed)
    k = len(vecs[attr])
    new = [str((int(x) + 1 + rng.randrange(k - 1)) % k) for x in labels[attr]]
    old_i, new_i = [int(x) for x in labels[attr]], [int(x) for x in new]
    return new, acts - vecs[attr][old_i] + vecs[attr][new_i]


def supervised_sae(sd: SupervisedDictionary):
    """A JumpReLU SAE whose decoder rows are the supervised vectors and whose latents read their vector's
    coefficient (about 1 on its value, about -1/(k-1) on the attribute's other values) above a 0.5 threshold."""
    names, u = sd.matrix()
    sae = build_sae(SAEConfig(architecture="jumprelu", d_in=D, d_sae=len(names), hook_name="h"))
    with torch.no_grad():
        sae.W_dec.copy_(u)
        sae.b_dec.copy_(sd.mean)
        sae.W_enc.copy_((u / u.pow(2).sum(1, keepdim=True)).T)
        sae.b_enc.zero_()
        sae.threshold.fill_(0.5)
    return names, sae


def test_supervised_dictionary_recovers_planted_vectors_and_noise_level():
    acts, labels, vecs, noise, _ = planted()
    sd = SupervisedDictionary.fit(acts, labels)
    for a, v in vecs.items():
        centred = v - v.mean(0)  # balanced values: u_v = planted_v - mean over values
        for j in range(len(v)):
            cos = torch.cosine_similarity(sd.vectors[a][str(j)], centred[j], dim=0)
            assert cos >= 0.99, (a, j, float(cos))
    err = (acts - sd.reconstruct(labels)).pow(2).sum(1).mean()
    assert abs(float(err) / (D * SIGMA**2) - 1) < 0.1  # the error is the planted noise, nothing more
    new, target = counterfactual(acts, labels, vecs, "a0")
    assert edit_score(sd.edit(acts, "a0", labels["a0"], new), acts, target) > 0.99


def test_sae_with_the_supervised_decoder_scores_perfectly_and_a_random_sae_near_chance():
    acts, labels, vecs, _, _ = planted()
    sd = SupervisedDictionary.fit(acts, labels)
    names, good = supervised_sae(sd)
    torch.manual_seed(0)
    rand = build_sae(SAEConfig(architecture="standard", d_in=D, d_sae=len(names) * 4, hook_name="h"))
    new, target = counterfactual(acts, labels, vecs, "a0")
    scores = {}
    for name, sae in (("good", good), ("random", rand)):
        with torch.no_grad():
            feats, cf_feats = sae.encode(acts), sae.encode(target)
        active = feats > 0
        f1 = latent_f1(active, labels["a0"])
        ranking = f1_ranking(active, labels["a0"], sorted(set(labels["a0"])))
        edited = swap_edit(sae.W_dec, acts, feats, cf_feats, labels["a0"], new, ranking, k=1)
        scores[name] = (float(f1.f1.mean()), edit_score(edited, acts, target))
    assert scores["good"][0] == pytest.approx(1.0)
    assert scores["good"][1] > 0.95
    assert scores["random"][0] < 0.6  # a latent firing at random on a 1-in-4 value: F1 about 0.3-0.4
    assert scores["random"][1] < 0.3


def test_greedy_edit_reaches_the_target_reconstruction_with_enough_budget():
    torch.manual_seed(0)
    sae = build_sae(SAEConfig(architecture="topk", d_in=D, d_sae=128, k=4, hook_name="h"))
    x, y = torch.randn(32, D), torch.randn(32, D)
    with torch.no_grad():
        fx, fy = sae.encode(x), sae.encode(y)
        target = x + (fy - fx) @ sae.W_dec
    scores = [edit_score(greedy_edit(sae.W_dec, x, fx, fy, b), x, target) for b in (0, 1, 2, 8)]
    assert scores[0] == pytest.approx(0.0, abs=1e-6)
    assert all(b >= a - 1e-6 for a, b in zip(scores, scores[1:], strict=False))  # more budget never hurts
    assert scores[-1] > 0.999  # 8 >= the latents that differ (at most 4 + 4): exact


def test_sparse_probing_one_latent_matches_the_dense_probe_on_the_supervised_sae():
    acts, labels, _, _, _ = planted()
    sd = SupervisedDictionary.fit(acts, labels)
    _, good = supervised_sae(sd)
    with torch.no_grad():
        feats = good.encode(acts)
    frame = sparse_probing(acts, feats, {"a0": labels["a0"]}, ks=(1,), min_count=40)
    assert len(frame) == 4
    assert (frame.dense > 0.98).all() and (frame.k1 > 0.98).all()
    shuffled = feats[torch.randperm(len(feats))]  # latents unrelated to the labels
    chance = sparse_probing(acts, shuffled, {"a0": labels["a0"]}, ks=(1,), min_count=40)
    assert chance.k1.mean() < 0.7


def test_absorption_detected_on_a_hand_built_case():
    """Words starting with s share a letter direction p; 'snake' also has its own latent, whose decoder includes p,
    and the letter latent is suppressed on it: the textbook absorption. Words of other letters do not absorb."""
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(D, D, generator=g))[0].T  # orthonormal rows
    p_s, p_t, w_sun, w_snake, w_tea = basis[:5]
    words = ["sun"] * 60 + ["snake"] * 60 + ["tea"] * 120
    acts = torch.stack([{"sun": w_sun + p_s, "snake": w_snake + p_s, "tea": w_tea + p_t}[w] for w in words])
    letters = [w[0] for w in words]
    sae = build_sae(SAEConfig(architecture="standard", d_in=D, d_sae=4, hook_name="h", apply_b_dec_to_input=False))
    with torch.no_grad():
        sae.b_dec.zero_()
        sae.W_dec.copy_(torch.stack([p_s, w_snake + p_s, p_t, w_sun]))
        # latent 0 ("starts with s") reads p_s but is pushed below zero by the snake direction: absorption
        sae.W_enc.copy_(torch.stack([p_s - 2 * w_snake, w_snake, p_t, w_sun]).T)
        sae.b_enc.zero_()
        feats = sae.encode(acts)
    probes = {letter: LogisticProbe(torch.zeros(D), torch.ones(D), 4 * p, torch.tensor(-2.0))
              for letter, p in (("s", p_s), ("t", p_t))}
    frame, summary = first_letter_absorption(acts, letters, feats, sae.W_dec, probes=probes,
                                             mains={"s": [0], "t": [2]}, min_count=20)
    row = frame.set_index("letter")
    assert row.loc["s", "absorption_rate"] == pytest.approx(0.5)  # every snake, no sun
    assert row.loc["s", "absorbing_latents"] == [1]
    assert row.loc["t", "absorption_rate"] == 0.0
    assert summary["absorption_rate"] == pytest.approx(0.25)


def test_bad_input_is_refused_with_a_reason():
    acts, labels, _, _, _ = planted(n=240)
    with pytest.raises(InputError, match="do not vary it"):
        SupervisedDictionary.fit(acts, {"a0": ["x"] * 240})
    with pytest.raises(InputError, match="at least 8"):
        SupervisedDictionary.fit(acts[:20], {"a0": labels["a0"][:20]})
    with pytest.raises(InputError, match="labels for"):
        SupervisedDictionary.fit(acts, {"a0": labels["a0"][:10]})


def test_ioi_axes_on_the_planted_circuit():
    """The planted model's name mover reads only the counts at END. At blocks.1.hook_resid_pre the supervised
    dictionary of io and s keeps the logit difference (sufficiency 1), and editing s there moves the answer exactly
    as the counterfactual does; editing io cannot (the new name is not in the context, so the counterfactual
    activation changes nothing: control NaN, and the unedited answer already agrees). After the name mover
    (hook_resid_post) io is written out and an io edit lands on the counterfactual. Necessity stays below 1: io and
    s are drawn without replacement, so the additive dictionary leaves a remainder the sharp name mover reads."""
    from interp.models.planted_ioi import planted_ioi_model
    from saes.ground_truth import evaluate_ioi
    from saes.ground_truth.ioi import IOINotSolvedError, planted_ioi_attributes

    model, _ = planted_ioi_model()
    data = planted_ioi_attributes(model)
    early = evaluate_ioi(model, data, "blocks.1.hook_resid_pre").set_index(["dictionary", "metric", "attribute"]).value
    assert early[("model", "logit_diff_clean", "")] > 5
    assert early[("supervised", "sufficiency", "")] == pytest.approx(1, abs=0.02)
    assert early[("supervised", "recovered", "")] == pytest.approx(1, abs=0.02)
    assert early[("supervised", "control", "s")] > 0.99
    assert early[("supervised", "edit_accuracy", "s")] == 1 and early[("none", "edit_accuracy", "s")] == 0
    assert np.isnan(early[("supervised", "control", "io")]) and early[("none", "edit_accuracy", "io")] == 1
    late = evaluate_ioi(model, data, "blocks.1.hook_resid_post").set_index(["dictionary", "metric", "attribute"]).value
    assert late[("supervised", "control", "io")] > 0.99
    assert late[("supervised", "edit_accuracy", "io")] == 1 and late[("none", "edit_accuracy", "io")] == 0
    assert 0.7 < late[("supervised", "necessity", "")] < 1
    with pytest.raises(IOINotSolvedError, match="logit difference"):
        evaluate_ioi(model, data, "blocks.0.hook_resid_pre")  # END's embedding carries nothing of the task


def test_corpus_labels_describe_the_corpus_exactly():
    """The labelled stories are the corpus generator's own stories (same text for the same seed), and each token's
    attributes match what the token is."""
    from interp.data.corpus.labels import labelled_stories, token_labels
    from interp.data.corpus.stories import iter_stories
    from interp.data.tokenizer import gpt2_tokenizer

    stories = labelled_stories(20, seed=7)
    stream = iter_stories(seed=7)
    assert [s.text for s in stories] == [next(stream) for _ in range(20)]
    tok = gpt2_tokenizer()
    ids, labels = token_labels(tok, stories, max_len=256)
    seen_kinds, seen_names = set(), 0
    for i, row in enumerate(ids):
        assert all(labels[a][i][0] == "" for a in labels)  # BOS
        for j in range(1, len(row)):
            piece = tok.decode([row[j]]).strip()
            if labels["character"][i][j]:
                seen_names += 1
                word = labels["word"][i][j]  # " Le", "o" of Leo; "'s" of Fred's
                assert piece in word and word.split("'")[0] == labels["character"][i][j]
                assert labels["category"][i][j] == "name"
                assert labels["gender"][i][j] in ("f", "m")
            if labels["first_letter"][i][j]:
                assert next(c for c in piece if c.isalpha()).lower() == labels["first_letter"][i][j]
            assert labels["topic"][i][j] == stories[i].topic
            seen_kinds.add(labels["sentence_kind"][i][j])
    assert seen_names > 50 and {"ending", "ioi", "give", "capital"} <= seen_kinds
    orange = [labels["category"][i][j] for i, r in enumerate(ids) for j in range(len(r))
              if labels["word"][i][j] == "orange"]
    assert set(orange) <= {""}  # an object and a colour: no category rather than a guess


def test_cli_eval_sae_ground_truth_and_compare_saes(tiny_run_dir, tmp_path):
    """The CLI on a tiny model (which does not do IOI: its axes are skipped with a note): eval-sae --ground-truth
    writes ground_truth.json/.html; compare-saes reuses them and writes the comparison; bad input is refused."""
    import json

    from interp.app.cli import main
    from interp.errors import RunDirError
    from saes.train import train_saes
    from saes.train_config import SAETrainConfig

    cfg = SAETrainConfig(run_dir=str(tiny_run_dir), out_dir=str(tmp_path / "saes"), n_tokens=12_288, batch_size=512,
                         lr=2e-3, progress=False, buffer_size=4096, dead_tokens=5_000,
                         saes=[{"name": "topk", "hook": "blocks.1.hook_resid_pre", "architecture": "topk", "k": 8,
                                "expansion": 4},
                               {"name": "tc", "hook": "blocks.0.ln2.hook_normalized",
                                "hook_out": "blocks.0.hook_mlp_out", "architecture": "standard", "expansion": 4,
                                "l1_coefficient": 1.0}])
    dirs = train_saes(cfg).sae_dirs
    common = ["--run-dir", str(tiny_run_dir), "--n-stories", "60", "--n-ioi-prompts", "224"]
    assert main(["eval-sae", str(dirs["topk"]), "--n-tokens", "2048", "--ground-truth", *common]) == 0
    saved = json.loads((dirs["topk"] / "ground_truth.json").read_text())
    assert 0 <= saved["scores"]["f1_category"] <= 1 and 0.5 <= saved["scores"]["probe_dense"] <= 1
    assert any("IOI axes skipped" in n for n in saved["notes"])
    assert (dirs["topk"] / "ground_truth.html").stat().st_size > 10_000
    out = tmp_path / "compare"
    assert main(["compare-saes", str(dirs["topk"]), str(dirs["tc"]), "--out", str(out), *common]) == 0
    table = (out / "comparison.csv").read_text()
    assert "topk" in table and "tc" in table and "absorption_rate" in table
    assert json.loads((out / "comparison.json").read_text())["saes"]["topk"]["scores"] == saved["scores"]  # reused
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="something other than"):
        main(["compare-saes", str(dirs["topk"]), "--out", str(other), "--debug", *common])


def test_an_sae_of_another_hook_or_model_is_refused():
    from interp.errors import HookNameError
    from interp.models.planted_ioi import planted_ioi_model
    from saes.errors import SAEConfigError
    from saes.ground_truth import evaluate_ground_truth

    model, _ = planted_ioi_model()
    d = model.cfg.d_model
    with pytest.raises(HookNameError, match="blocks.7"):
        evaluate_ground_truth(model, build_sae(SAEConfig(architecture="topk", d_in=d, d_sae=8, k=2,
                                                         hook_name="blocks.7.hook_resid_pre")))
    other = build_sae(SAEConfig(architecture="topk", d_in=d, d_sae=8, k=2, hook_name="blocks.1.hook_resid_pre",
                                metadata={"model_hash": "0" * 64, "model_run": "elsewhere"}))
    with pytest.raises(SAEConfigError, match="another model"):
        evaluate_ground_truth(model, other)
