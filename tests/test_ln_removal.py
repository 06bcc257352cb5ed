"""LayerNorm removal's pieces: the removable norm against hand-computed scales, the schedule's order, and the
finished model (LayerNorm-free, folded into TransformerLens) computing the same logits with exact DLA."""

from __future__ import annotations

import shutil

import pytest
import torch

from interp.analysis.attribution import direct_logit_attribution
from interp.errors import ConfigError
from interp.layout import RunLayout
from interp.ln_removal import SCHEDULES, RemovalEvent, apply_schedule, finalize, removal_events, to_removable
from interp.models.config import ModelConfig
from interp.models.convert import to_hooked
from interp.models.gpt import GPT
from interp.models.norms import RemovableNorm


def _gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig.from_preset("tiny", n_layers=2, d_model=32, n_heads=4, n_ctx=16, d_vocab=64)).eval()


def _tokens(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 64, (3, 12), generator=torch.Generator().manual_seed(seed))


def test_removable_norm_scales_are_the_hand_computed_ones() -> None:
    norm = RemovableNorm(8, eps=1e-5)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    xs = [torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(s)) * (s + 1) for s in range(3)]
    live = [(x.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt() for x in xs]
    ln = torch.nn.functional.layer_norm
    norm.train()
    for x in xs[:2]:  # live scale: exactly LayerNorm, while the averages track it
        assert torch.allclose(norm(x), ln(x, (8,), norm.weight, norm.bias, 1e-5), atol=1e-5)
    ema = 0.9 * live[0][:, 1:].mean() + 0.1 * live[1][:, 1:].mean()  # the first batch sets it, then momentum 0.9
    ema_bos = 0.9 * live[0][:, 0].mean() + 0.1 * live[1][:, 0].mean()
    assert float(norm.ema) == pytest.approx(float(ema), rel=1e-5)
    assert float(norm.ema_bos) == pytest.approx(float(ema_bos), rel=1e-5)
    norm.frozen.fill_(True)
    out = norm(xs[2])  # frozen: the averages, not the live scale, and they stop moving
    centred = xs[2] - xs[2].mean(-1, keepdim=True)
    assert float(norm.ema) == pytest.approx(float(ema), rel=1e-5)
    assert torch.allclose(out[:, 1:], centred[:, 1:] / ema * norm.weight + norm.bias, atol=1e-5)
    assert torch.allclose(out[:, :1], centred[:, :1] / ema_bos * norm.weight + norm.bias, atol=1e-5)
    norm.bos_removed.fill_(True)  # position 0 joins the rest
    assert torch.allclose(norm(xs[2])[:, :1], centred[:, :1] / ema * norm.weight + norm.bias, atol=1e-5)
    qkv = RemovableNorm(8, split_qkv=True).train()
    qkv(xs[0])
    qkv.frozen_qk.fill_(True)
    x_qk, x_v = qkv(xs[1])  # only the query/key path frozen
    assert torch.allclose(x_v, ln(xs[1], (8,), qkv.weight, qkv.bias, 1e-5), atol=1e-5)
    assert not torch.allclose(x_qk, x_v)


def test_schedule_freezes_in_order_at_its_steps() -> None:
    events = removal_events(2, SCHEDULES["fast"])
    assert [(e.step, e.site, e.path) for e in events] == [
        (20, "blocks.0.ln2", ""), (22, "blocks.1.ln2", ""), (24, "blocks.0.ln1", "qk"), (26, "blocks.1.ln1", "qk"),
        (28, "blocks.0.ln1", "v"), (31, "blocks.1.ln1", "v"), (34, "ln_f", ""), (44, "*", "bos")]
    gpt = to_removable(_gpt())
    applied = {step: apply_schedule(gpt, events, step) for step in range(50)}
    assert {s: [(e.site, e.path) for e in a] for s, a in applied.items() if a} == {
        e.step: [(e.site, e.path)] for e in events}
    assert apply_schedule(gpt, events, 49) == []  # idempotent: a resumed run re-applies nothing
    late = to_removable(_gpt())
    assert apply_schedule(late, events, 30) == events[:5]  # resuming at step 30 catches up at once
    gradual = removal_events(12, SCHEDULES["gradual"])
    assert gradual[0].step == 200 and gradual[-2].site == "ln_f" and gradual[-1].step == gradual[-2].step + 100
    with pytest.raises(ConfigError, match="not a removable norm"):
        apply_schedule(gpt, [RemovalEvent(0, "blocks.7.ln2", "")], 1)


def test_finished_removal_folds_to_an_ln_free_model_with_exact_dla() -> None:
    gpt = _gpt()
    tokens = _tokens()
    removable = to_removable(gpt)
    with torch.no_grad():
        assert torch.allclose(removable(tokens), gpt(tokens), atol=1e-5)  # nothing frozen: the same model
    with pytest.raises(ConfigError, match="not finished"):
        finalize(removable)
    with pytest.raises(ConfigError, match="middle of a LayerNorm removal"):
        to_hooked(removable)
    events = removal_events(2, SCHEDULES["fast"])
    removable.train()
    with torch.no_grad():
        for step in range(events[-1].step + 1):  # the averages track real activations, then freeze in order
            apply_schedule(removable, events, step)
            removable(_tokens(step))
    removable.eval()
    ln_free = finalize(removable).eval()
    assert ln_free.cfg.all_norm_kinds() == {"fixed"}
    with torch.no_grad():
        want = removable(tokens)
        assert (ln_free(tokens) - want).abs().max() <= 1e-4
        assert not torch.allclose(want, gpt(tokens), atol=1e-3)  # the frozen scales did change the function
        hooked = to_hooked(ln_free)
        assert hooked.cfg.normalization_type is None
        assert (hooked(tokens) - want).abs().max() <= 1e-4
    attr = direct_logit_attribution(hooked, tokens, answer=torch.tensor([1, 2, 3]), wrong=torch.tensor([4, 5, 6]))
    assert attr.error <= 1e-4 and "final LN bias" not in attr.labels
    with pytest.raises(ConfigError, match="no LayerNorm left"):
        to_removable(ln_free)


def _removal_hook(events, seen: list[tuple[int, str, str]]):
    def before_step(trainer) -> None:
        for e in apply_schedule(trainer.model, events, trainer.step):
            seen.append((trainer.step, e.site, e.path))
    return before_step


def test_removal_fine_tunes_with_the_trainer_and_resumes_to_the_same_weights(tiny_data_dir, tiny_run_dir,
                                                                           tmp_path) -> None:
    from interp.training.checkpoint import load_model
    from interp.training.trainer import train
    from tests.fixtures.runs import tiny_train_config

    events = removal_events(2, SCHEDULES["fast"])
    kw = dict(model_overrides={"norm": "removable"}, init_from=str(tiny_run_dir), max_steps=50, ckpt_interval=10,
              val_interval=1000, lr=1e-3, warmup_steps=5)
    seen: list[tuple[int, str, str]] = []
    train(tiny_train_config(tiny_data_dir, tmp_path / "whole", **kw), before_step=_removal_hook(events, seen))
    assert seen == [(e.step, e.site, e.path) for e in events]  # each freeze before its own step, once
    whole = load_model(tmp_path / "whole")
    with pytest.raises(ConfigError, match="does not fit"):  # a parent of another shape is refused before training
        train(tiny_train_config(tiny_data_dir, tmp_path / "bad", **{**kw, "model_overrides": {
            "norm": "removable", "d_model": 32}}))
    # Killed after step 30 (its checkpoint is the latest left), resumed to 50: the same weights, scales and flags.
    train(tiny_train_config(tiny_data_dir, tmp_path / "killed", **kw, keep_checkpoints=10),
          before_step=_removal_hook(events, []))
    ckpts = RunLayout(tmp_path / "killed").checkpoints
    for late in ("step_000040", "step_000050"):
        shutil.rmtree(ckpts / late)
    (ckpts / "latest").write_text("step_000030")
    resumed_seen: list[tuple[int, str, str]] = []
    train(tiny_train_config(tiny_data_dir, tmp_path / "killed", **kw, keep_checkpoints=10, resume=True),
          before_step=_removal_hook(events, resumed_seen))
    assert resumed_seen == [(e.step, e.site, e.path) for e in events if e.step > 30]  # the rest, from the buffers
    resumed = load_model(tmp_path / "killed")
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    ln_free = finalize(whole)  # the trained removal finishes into a LayerNorm-free model with the same logits
    tokens = _tokens().clamp(max=whole.cfg.d_vocab - 1)
    with torch.no_grad():
        assert (ln_free(tokens) - whole(tokens)).abs().max() <= 1e-4


def test_distillation_is_the_kl_from_the_parent_and_zero_for_the_parent_itself(tiny_run_dir) -> None:
    """The default distillation term: weight * KL(parent || model) per position, averaged (torch's kl_div as the
    reference); the parent's own logits give 0."""
    import torch.nn.functional as F

    from interp.ln_removal.run import _distillation
    from interp.training.checkpoint import load_model

    parent = load_model(tiny_run_dir).eval()
    tokens = _tokens().clamp(max=parent.cfg.d_vocab - 1)
    loss = _distillation(tiny_run_dir, 2.0)
    with torch.no_grad():
        own = parent(tokens, check=False)
    assert float(loss(parent, tokens, own)) == pytest.approx(0.0, abs=1e-6)
    other = own + torch.randn(own.shape, generator=torch.Generator().manual_seed(0))
    reference = F.kl_div(torch.log_softmax(other, -1), torch.log_softmax(own, -1), log_target=True,
                         reduction="none").sum(-1).mean()
    torch.testing.assert_close(loss(parent, tokens, other), 2.0 * reference)
    assert _distillation(tiny_run_dir, 0.0)(parent, tokens, other) is None


def test_default_drill_share_is_the_parents_average_capped() -> None:
    from interp.ln_removal.run import MAX_DRILL_SHARE, default_drill_share

    studies_like = {"copy_drill_frac": 0.4, "copy_drill_start": 5600, "copy_drill_stop": 6000, "max_steps": 6000}
    assert default_drill_share(studies_like) == round(0.4 * 400 / 6000, 4)  # under the cap: the average
    quickstart = {"copy_drill_frac": 0.4, "copy_drill_start": 2000, "copy_drill_stop": 3250, "max_steps": 4000}
    assert default_drill_share(quickstart) == MAX_DRILL_SHARE  # 0.125 on average: capped
    assert default_drill_share({"copy_drill_frac": 0.0, "max_steps": 4000}) == 0.0
