"""The toy model of Liu, Liu & Gore 2025 ("Superposition yields robust neural scaling", arXiv 2505.10465): how the
loss of ``y = ReLU(W W^T x + b)`` falls with the hidden width ``m`` when the sign of weight decay sets the regime.

Set-up (as the paper's code, github.com/liuyz0/SuperpositionScaling ``exp/exp-17.py`` and ``exp/adamw.py``, except
where marked *):

- ``n_features`` features; feature ``i`` (1-based) is active with probability ``p_i ∝ i^-alpha``, scaled so that
  ``sum_i p_i = expected_active`` (the paper's activation density; its main runs use 1). An active feature takes a
  value uniform in ``[0, 2]``; inactive ones are 0. Fresh samples every step (no fixed data set).
- ``W: [n_features, width]`` starts at ``randn / sqrt(width)``; ``b: [n_features]`` at 0 (*the paper: ``randn``,
  ``bias_init="randn"``; its positive half makes every output fire at first, and pulling it down takes a third of a
  2000-step run; with weight decay it also kills frequent features' rows at n >= 1024).
- Adam with the paper's decoupled, signed weight decay on ``W`` (none on ``b``), applied before each Adam step:
  ``wd >= 0``: ``W *= 1 - lr * wd`` (ordinary decay: rare features' rows shrink to 0, weak superposition);
  ``wd < 0``: ``W += lr * wd * W * (1 - 1 / |W_row|)`` (growth toward unit row norm: every feature gets a unit
  row, strong superposition; rows above norm 1 are pulled back down, so norms stay bounded without clipping).
- Learning rates as the paper's: ``W`` at ``lr * (8 / width) ** 0.25``, ``b`` at ``bias_lr / width``; linear
  warm-up over ``warmup`` of the steps (*10%, as its small-model runs; 5% in exp-17), then cosine to 5% of the peak.
- Loss: squared error summed over features, averaged over samples (the paper's ``MSELoss`` is this / n_features;
  the scaling exponent is the same). Reported on a fresh held-out batch from a fixed seed (the same batch for every
  width, so the widths' losses share their sampling noise).
- *Far fewer samples than the paper (it trains 40,000 steps of 8,192 at n = 10,240 on a GPU): ``sample_sparse`` and
  ``loss_and_grads`` make a CPU step cheap (no dense x, hand-written gradients).

Predictions: weak regime ``L ≈ (4/3) sum_{i > m} p_i ~ m^-(alpha - 1)`` (the unrepresented tail, ``E[v^2] = 4/3``;
``weak_tail_loss``; finite n makes it steeper); more exactly the paper's ``(4/3) sum_{i unrepresented} p_i``
(``unrepresented_loss`` in the sweep). Strong regime ``L ∝ 1/m`` whatever ``alpha`` (interference of ``n`` unit
vectors in ``m`` dimensions). Measured here (short runs): the strong exponent falls toward 1 as n grows (about 1.5,
1.3, 1.1 at n = 1024, 2048, 4096, widths 8..256); under decay the number of represented rows grows faster than
``m`` (none at the smallest widths, more than ``m`` at the largest), so the weak exponent is not ``alpha - 1``.

>>> res = train_superposition(SuperpositionConfig(n_features=256, width=16, weight_decay=-1.0, steps=600))
>>> res.loss, res.represented_fraction                # held-out loss, share of rows with norm > 0.5
>>> df = scaling_sweep([8, 16, 32, 64], [-1.0, 1.0], SuperpositionConfig(n_features=256, steps=600))
>>> fit_power_law(df[df.regime == "strong"].width, df[df.regime == "strong"].loss)   # (exponent, (lo, hi))
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pandas as pd
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from torch import Tensor, nn
from tqdm.auto import tqdm, trange

from interp.errors import InputError

REPRESENTED_NORM = 0.5  # a row of W with a larger norm counts as a represented feature
DENSE_P = 0.02  # features more frequent than this are sampled with a draw per (sample, feature)


@dataclass
class SuperpositionConfig:
    """One toy run. ``weight_decay`` < 0: strong superposition; > 0: weak (see the module docstring)."""

    n_features: int = 1024
    width: int = 16
    alpha: float = 1.2
    expected_active: float = 1.0  # sum_i p_i: expected number of active features per sample
    weight_decay: float = -1.0
    steps: int = 2000
    batch: int = 256
    lr: float = 0.02  # W's peak learning rate at width 8; scaled by (8 / width) ** 0.25
    bias_lr: float = 2.0  # b's peak learning rate is bias_lr / width
    warmup: float = 0.1  # fraction of steps of linear warm-up
    bias_init: str = "zero"  # "zero", or "randn" as the paper (see the module docstring)
    eval_batch: int = 16384
    eval_seed: int = 12345  # the held-out batch: the same for every width and seed
    seed: int = 0
    progress: bool = False

    def validate(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise InputError(f"SuperpositionConfig: {msg}")

        need(self.n_features >= 2, f"n_features={self.n_features}; use at least 2 features")
        need(1 <= self.width < self.n_features,
             f"width={self.width} with n_features={self.n_features}; superposition needs 1 <= width < n_features")
        need(self.steps > 0, f"steps={self.steps}; use a positive number of steps")
        need(self.batch > 0 and self.eval_batch > 0, "batch and eval_batch must be positive")
        need(self.lr > 0 and self.bias_lr > 0, f"lr={self.lr}, bias_lr={self.bias_lr}; learning rates must be > 0")
        need(0 <= self.warmup < 1, f"warmup={self.warmup}; use a fraction in [0, 1)")
        need(self.bias_init in ("zero", "randn"), f"bias_init={self.bias_init!r}; use 'zero' or 'randn'")
        need(math.isfinite(self.weight_decay), "weight_decay must be finite (its sign picks the regime)")
        need(self.alpha >= 0, f"alpha={self.alpha}; frequencies p_i ∝ i^-alpha need alpha >= 0")
        need(self.expected_active > 0, f"expected_active={self.expected_active}; must be > 0")
        p1 = feature_probs(self.n_features, self.alpha, self.expected_active, check=False)[0]
        need(float(p1) <= 1, f"expected_active={self.expected_active} makes p_1 = {float(p1):.3g} > 1; "
             "lower it or raise alpha")


def feature_probs(n_features: int, alpha: float, expected_active: float = 1.0,
                  check: bool = True) -> Float[Tensor, " n_features"]:
    """``p_i ∝ i^-alpha`` (i = 1..n), summing to ``expected_active``; float64. ``feature_probs(4, 1.0)[0] = 12/25``."""
    p = torch.arange(1, n_features + 1, dtype=torch.float64) ** -alpha
    p = p * (expected_active / p.sum())
    if check and float(p[0]) > 1:
        raise InputError(f"expected_active={expected_active} makes p_1 = {float(p[0]):.3g} > 1; lower it")
    return p


def sample_sparse(probs: Float[Tensor, " n_features"], batch: int, generator: torch.Generator | None = None,
                  ) -> tuple[Tensor, Tensor, Float[Tensor, " nnz"]]:
    """Feature i active with probability ``probs[i]`` (independently per sample), then uniform in [0, 2]: the
    (rows, cols, values) of the non-zeros of a ``[batch, n_features]`` matrix, unordered.

    Exact but without a random draw per cell: features with p > DENSE_P draw densely; each other feature draws its
    count k ~ Binomial(batch, p), then k distinct rows (uniform: draws that repeat a row are redrawn).
    ``rows, cols, vals = sample_sparse(feature_probs(1024, 1.2), 512, torch.Generator().manual_seed(0))``"""
    probs = probs.float()
    dense_idx, rare_idx = (probs > DENSE_P).nonzero()[:, 0], (probs <= DENSE_P).nonzero()[:, 0]
    r_d, c_d = (torch.rand(batch, dense_idx.numel(), generator=generator) < probs[dense_idx]).nonzero(as_tuple=True)
    k = torch.binomial(torch.full((rare_idx.numel(),), float(batch)), probs[rare_idx], generator=generator)
    cols = rare_idx.repeat_interleave(k.long())
    rows = torch.randint(batch, (cols.numel(),), generator=generator)
    while cols.numel():
        key, order = (cols * batch + rows).sort()
        repeat = torch.zeros_like(cols, dtype=torch.bool)
        repeat[order[1:]] = key[1:] == key[:-1]
        n_repeat = int(repeat.sum())
        if not n_repeat:
            break
        rows[repeat] = torch.randint(batch, (n_repeat,), generator=generator)
    rows, cols = torch.cat([r_d, rows]), torch.cat([dense_idx[c_d], cols])
    return rows, cols, 2 * torch.rand(rows.numel(), generator=generator)


def sample_features(probs: Float[Tensor, " n_features"], batch: int,
                    generator: torch.Generator | None = None) -> Float[Tensor, "batch n_features"]:
    """``sample_sparse`` as a dense matrix (same draws for the same generator). ``sample_features(p, 1024, g)``."""
    rows, cols, vals = sample_sparse(probs, batch, generator)
    x = torch.zeros(batch, probs.numel())
    x[rows, cols] = vals
    return x


def weak_tail_loss(n_features: int, width: int, alpha: float, expected_active: float = 1.0) -> float:
    """The weak regime's ideal loss: the top ``width`` features exact, the rest unrepresented (E[v^2] = 4/3)."""
    return float(feature_probs(n_features, alpha, expected_active)[width:].sum() * 4 / 3)


class SuperpositionModel(nn.Module):
    """``y = ReLU(W W^T x + b)``. ``SuperpositionModel(256, 16)(x)`` with ``x: [batch, 256]``."""

    def __init__(self, n_features: int, width: int, generator: torch.Generator | None = None,
                 bias_init: str = "zero") -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(n_features, width, generator=generator) / math.sqrt(width))
        b = torch.randn(n_features, generator=generator) if bias_init == "randn" else torch.zeros(n_features)
        self.b = nn.Parameter(b)

    def forward(self, x: Float[Tensor, "batch n_features"]) -> Float[Tensor, "batch n_features"]:
        return torch.relu(x @ self.W @ self.W.T + self.b)


def loss_and_grads(W: Float[Tensor, "n m"], b: Float[Tensor, " n"], rows: Tensor, cols: Tensor,
                   vals: Float[Tensor, " nnz"], batch: int) -> tuple[float, Float[Tensor, "n m"], Float[Tensor, " n"]]:
    """The loss of ``SuperpositionModel`` on a sparse batch and its gradients, by hand (no autograd, no dense x):
    about 40% fewer FLOPs than autograd on a dense x, and fewer passes over the ``[batch, n]`` output.
    ``loss, gW, gb = loss_and_grads(model.W.detach(), model.b.detach(), *sample_sparse(p, 1024), 1024)``."""
    h_bm = W.new_zeros(batch, W.shape[1]).index_add_(0, rows, vals[:, None] * W[cols])  # x @ W, x sparse
    r_bn = torch.addmm(b, h_bm, W.T).relu_()
    r_nz = r_bn[rows, cols]
    flat = r_bn.view(-1)
    # sum (r - x)^2 = sum r^2 + sum over the non-zeros of ((r - x)^2 - r^2)
    loss = (float(torch.dot(flat, flat)) + float(((r_nz - vals) ** 2 - r_nz**2).sum())) / batch
    g_bn = r_bn.mul_(2 / batch)  # dL/dz where z > 0 and x = 0 (zero where r = 0: the ReLU's gradient)
    g_bn[rows, cols] = (2 / batch) * (r_nz - vals) * (r_nz > 0)
    gb = g_bn.sum(0)
    gW = g_bn.T @ h_bm  # through the output side W^T
    gW.index_add_(0, cols, vals[:, None] * (g_bn @ W)[rows])  # through the input side: dL/dW[c] += x[r,c] dL/dh[r]
    return loss, gW, gb


def reconstruction_loss(y: Float[Tensor, "batch n"], x: Float[Tensor, "batch n"]) -> Tensor:
    """Squared error summed over features, averaged over samples."""
    return (y - x).pow(2).sum(dim=1).mean()


@torch.no_grad()
def signed_weight_decay_(W: Tensor, lr: float, weight_decay: float, eps: float = 1e-8) -> None:
    """The paper's decoupled decay: shrink (wd >= 0) or grow rows toward unit norm (wd < 0), in place."""
    if weight_decay >= 0:
        W.mul_(1 - lr * weight_decay)
    else:
        norms = W.norm(dim=1, keepdim=True) + eps
        W.add_(W * (1 - 1 / norms), alpha=lr * weight_decay)


def lr_factor(step: int, steps: int, warmup: float, floor: float = 0.05) -> float:
    """Linear warm-up, then cosine from 1 to ``floor``; ``step`` counts from 0."""
    n_warm = int(steps * warmup)
    if step < n_warm:
        return (step + 1) / n_warm
    t = (step - n_warm) / max(1, steps - n_warm)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


@dataclass
class SuperpositionResult:
    config: SuperpositionConfig
    loss: float  # held-out
    represented_fraction: float  # rows of W with norm > REPRESENTED_NORM
    mean_row_norm: float
    row_norms: Float[Tensor, " n_features"]
    model: SuperpositionModel
    train_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def evaluate(model: SuperpositionModel, cfg: SuperpositionConfig, chunk: int = 4096) -> float:
    """Mean held-out loss on ``cfg.eval_batch`` samples drawn from ``cfg.eval_seed`` (in chunks)."""
    gen = torch.Generator().manual_seed(cfg.eval_seed)
    probs = feature_probs(cfg.n_features, cfg.alpha, cfg.expected_active)
    total, done = 0.0, 0
    W, b = model.W.detach(), model.b.detach()
    while done < cfg.eval_batch:
        n = min(chunk, cfg.eval_batch - done)
        total += loss_and_grads(W, b, *sample_sparse(probs, n, gen), n)[0] * n
        done += n
    return total / cfg.eval_batch


def train_superposition(cfg: SuperpositionConfig) -> SuperpositionResult:
    """Train one toy model on fresh batches; see the module docstring for the recipe.

    >>> train_superposition(SuperpositionConfig(n_features=256, width=8, weight_decay=1.0, steps=600)).loss
    """
    cfg.validate()
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    probs = feature_probs(cfg.n_features, cfg.alpha, cfg.expected_active)
    model = SuperpositionModel(cfg.n_features, cfg.width, gen, cfg.bias_init)
    w_lr, b_lr = cfg.lr * (8 / cfg.width) ** 0.25, cfg.bias_lr / cfg.width
    opt = torch.optim.Adam([{"params": [model.W], "lr": w_lr}, {"params": [model.b], "lr": b_lr}])
    losses = []
    for step in trange(cfg.steps, disable=not cfg.progress, desc=f"m={cfg.width} wd={cfg.weight_decay:+g}",
                       leave=False):
        f = lr_factor(step, cfg.steps, cfg.warmup)
        opt.param_groups[0]["lr"], opt.param_groups[1]["lr"] = w_lr * f, b_lr * f
        loss, model.W.grad, model.b.grad = loss_and_grads(model.W.detach(), model.b.detach(),
                                                          *sample_sparse(probs, cfg.batch, gen), cfg.batch)
        signed_weight_decay_(model.W, w_lr * f, cfg.weight_decay)
        opt.step()
        losses.append(loss)
    if not math.isfinite(losses[-1]):
        raise InputError(f"training diverged (loss {losses[-1]}); lower lr (now {cfg.lr}) or bias_lr")
    norms = model.W.detach().norm(dim=1)
    return SuperpositionResult(config=cfg, loss=evaluate(model, cfg),
                               represented_fraction=float((norms > REPRESENTED_NORM).float().mean()),
                               mean_row_norm=float(norms.mean()), row_norms=norms, model=model,
                               train_losses=losses, seconds=time.perf_counter() - start)


def regime(weight_decay: float) -> str:
    """``"strong"`` for weight growth (wd < 0), ``"weak"`` for decay (wd > 0), ``"none"`` at 0."""
    return "strong" if weight_decay < 0 else "weak" if weight_decay > 0 else "none"


def scaling_sweep(widths: Sequence[int], weight_decays: Sequence[float],
                  base: SuperpositionConfig | None = None, progress: bool = True) -> pd.DataFrame:
    """One run per (weight decay, width) from ``base``; one row each: regime, weight_decay, width, loss,
    represented_fraction, mean_row_norm, weak_tail_loss, unrepresented_loss, seconds (see the module docstring).

    >>> scaling_sweep([8, 16, 32, 64], [-1.0, 1.0], SuperpositionConfig(n_features=256, steps=600))
    """
    base = base or SuperpositionConfig()
    widths, weight_decays = [int(m) for m in widths], [float(w) for w in weight_decays]
    if not widths or not weight_decays:
        raise InputError("scaling_sweep needs at least one width and one weight decay")
    if len(set(widths)) != len(widths) or len(set(weight_decays)) != len(weight_decays):
        raise InputError(f"repeated widths {widths} or weight decays {weight_decays}; list each once")
    for m in widths:
        replace(base, width=m).validate()  # every bad width fails before any training
    rows, probs = [], feature_probs(base.n_features, base.alpha, base.expected_active)
    runs = [(wd, m) for wd in weight_decays for m in widths]
    for wd, m in tqdm(runs, disable=not progress, desc="superposition sweep"):
        cfg = replace(base, width=m, weight_decay=wd, progress=False)
        res = train_superposition(cfg)
        rows.append({"regime": regime(wd), "weight_decay": wd, "width": m, "loss": res.loss,
                     "represented_fraction": res.represented_fraction, "mean_row_norm": res.mean_row_norm,
                     "weak_tail_loss": weak_tail_loss(cfg.n_features, m, cfg.alpha, cfg.expected_active),
                     "unrepresented_loss": float(4 / 3 * probs[res.row_norms <= REPRESENTED_NORM].sum()),
                     "seconds": res.seconds})
    return pd.DataFrame(rows)


# two-sided 95% Student t quantiles, df = 1..30 (df > 30: the Cornish-Fisher expansion below is within 1e-3)
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def fit_power_law(widths: Sequence[float], losses: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Least squares of log(loss) on log(width); returns the exponent ``a`` of ``loss ∝ width^-a`` and its 95%
    t-interval (slope's standard error, n - 2 degrees of freedom). Needs >= 3 distinct widths, positive values.

    >>> fit_power_law([8, 16, 32], [1 / 8, 1 / 16, 1 / 32])   # (1.0, (1.0, 1.0))
    """
    x = torch.tensor([float(w) for w in widths], dtype=torch.float64)
    y = torch.tensor([float(v) for v in losses], dtype=torch.float64)
    if x.numel() != y.numel():
        raise InputError(f"{x.numel()} widths but {y.numel()} losses; pass one loss per width")
    if x.numel() < 3 or x.unique().numel() < 3:
        raise InputError(f"fit_power_law needs at least 3 distinct widths (got {x.tolist()}) for an interval")
    if bool((x <= 0).any() | (y <= 0).any() | ~torch.isfinite(y).all()):
        raise InputError("fit_power_law needs positive, finite widths and losses (it fits in log-log)")
    lx, ly = x.log(), y.log()
    dx = lx - lx.mean()
    slope = float((dx * (ly - ly.mean())).sum() / (dx**2).sum())
    resid = ly - ly.mean() - slope * dx
    dof = x.numel() - 2
    se = math.sqrt(float((resid**2).sum()) / dof / float((dx**2).sum()))
    half = t975(dof) * se
    return -slope, (-slope - half, -slope + half)


def scaling_figure(df: pd.DataFrame, title: str = "Toy model loss vs width") -> go.Figure:
    """Loss against width, log-log, one trace per regime with its fitted power law (dashed), the weak regime's
    tail prediction (dotted) and its unrepresented features' share (open circles). ``scaling_figure(scaling_sweep(...)).show()``."""
    fig = go.Figure()
    colors = {"strong": "#d62728", "weak": "#1f77b4", "none": "#7f7f7f"}
    for wd, part in df.groupby("weight_decay", sort=True):
        part = part.sort_values("width")
        name = f"{regime(float(wd))} (wd={float(wd):+g})"
        color = colors[regime(float(wd))]
        fig.add_trace(go.Scatter(x=part.width, y=part.loss, mode="markers", name=name, marker={"color": color}))
        if regime(float(wd)) == "weak" and "unrepresented_loss" in part:
            fig.add_trace(go.Scatter(x=part.width, y=part.unrepresented_loss, mode="markers", name=f"{name}: "
                                     "(4/3) sum p_i, unrepresented", marker={"color": color, "symbol": "circle-open"}))
        if len(part) >= 3:
            a, (lo, hi) = fit_power_law(part.width, part.loss)
            lx = torch.tensor(part.width.tolist(), dtype=torch.float64).log()
            c = float((torch.tensor(part.loss.tolist(), dtype=torch.float64).log() + a * lx).mean())
            fig.add_trace(go.Scatter(x=part.width, y=(c - a * lx).exp().tolist(), mode="lines",
                                     line={"dash": "dash", "color": color},
                                     name=f"fit: m^-{a:.2f} [{lo:.2f}, {hi:.2f}]"))
    if "weak_tail_loss" in df:
        tail = df.drop_duplicates("width").sort_values("width")
        fig.add_trace(go.Scatter(x=tail.width, y=tail.weak_tail_loss, mode="lines", name="weak prediction: tail",
                                 line={"dash": "dot", "color": colors["weak"]}))
    fig.update_xaxes(type="log", title="width m")
    fig.update_yaxes(type="log", title="held-out loss (sum over features)")
    fig.update_layout(title=title, template="plotly_white")
    return fig
