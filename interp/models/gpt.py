"""The workbench's GPT-2-class transformer: pre-LN, learned positions, GELU MLP, fused attention (SDPA).

One readable module in the spirit of nanoGPT's model.py. Parameter names follow Hugging Face GPT-2
(``wte``, ``wpe``, ``c_attn``, ``c_proj``, ``c_fc``), which keeps the export and TransformerLens conversion
one table each (see ``interp.models.convert``).

>>> from interp.models.gpt import GPT
>>> from interp.models.config import ModelConfig
>>> model = GPT(ModelConfig.from_preset("tiny"))
>>> logits, loss = model(torch.zeros(1, 8, dtype=torch.long), targets=torch.zeros(1, 8, dtype=torch.long))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from interp.errors import InputError
from interp.models.config import ModelConfig
from interp.models.norms import make_norm


def _activation(name: str):
    if name == "gelu_new":
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu
    return F.relu


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.d_head, self.d_model = cfg.n_heads, cfg.d_head, cfg.d_model
        self.c_attn = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.c_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(
        self, x_qk: Float[Tensor, "batch pos d_model"], x_v: Float[Tensor, "batch pos d_model"] | None = None
    ) -> Float[Tensor, "batch pos d_model"]:
        B, T, D = x_qk.shape
        if x_v is None:  # one fused projection
            q, k, v = self.c_attn(x_qk).split(D, dim=-1)
        else:  # fixed-scale ln1: queries/keys and values read differently scaled inputs
            w, b = self.c_attn.weight, self.c_attn.bias
            q, k = F.linear(x_qk, w[: 2 * D], b[: 2 * D]).split(D, dim=-1)
            v = F.linear(x_v, w[2 * D :], b[2 * D :])
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in (q, k, v))
        z = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        return self.c_proj(z.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        assert cfg.d_mlp is not None
        self.c_fc = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.c_proj = nn.Linear(cfg.d_mlp, cfg.d_model)
        self.act = _activation(cfg.act_fn)

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        return self.c_proj(self.act(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.ln1 = make_norm(cfg.norm_at(f"blocks.{layer}.ln1"), cfg.d_model, cfg.layer_norm_eps, split_qkv=True)
        self.attn = Attention(cfg)
        self.ln2 = make_norm(cfg.norm_at(f"blocks.{layer}.ln2"), cfg.d_model, cfg.layer_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        normed = self.ln1(x)
        x = x + (self.attn(*normed) if isinstance(normed, tuple) else self.attn(normed))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """GPT-2-class language model. ``forward(tokens)`` returns logits; with ``targets``, ``(logits, loss)``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.d_vocab, cfg.d_model)
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.ln_f = make_norm(cfg.norm_at("ln_f"), cfg.d_model, cfg.layer_norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.d_vocab, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled by depth
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=cfg.init_std / math.sqrt(2 * cfg.n_layers))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=self.cfg.init_std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.cfg.init_std)

    def check_tokens(self, tokens: Tensor) -> None:
        """Raise ``InputError`` for prompts longer than the context or ids outside the vocabulary."""
        if tokens.dim() != 2:
            raise InputError(f"tokens must be [batch, pos], got shape {tuple(tokens.shape)}; add a batch dim.")
        if tokens.shape[1] > self.cfg.n_ctx:
            raise InputError(
                f"Prompt of {tokens.shape[1]} tokens is longer than the context n_ctx={self.cfg.n_ctx}; "
                "truncate it or use a model with a longer context."
            )
        if tokens.numel():
            lo, hi = int(tokens.min()), int(tokens.max())
            if lo < 0 or hi >= self.cfg.d_vocab:
                raise InputError(
                    f"Token ids must lie in [0, {self.cfg.d_vocab}), got range [{lo}, {hi}]: the tokens come "
                    "from a different tokenizer than the model's."
                )

    def forward(
        self,
        tokens: Int[Tensor, "batch pos"],
        targets: Int[Tensor, "batch pos"] | None = None,
        check: bool = True,
    ) -> Float[Tensor, "batch pos d_vocab"] | tuple[Float[Tensor, "batch pos d_vocab"], Tensor]:
        if check:
            self.check_tokens(tokens)
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    @torch.no_grad()
    def generate(
        self, tokens: Int[Tensor, "batch pos"], max_new_tokens: int, temperature: float = 1.0,
        top_k: int | None = None, generator: torch.Generator | None = None,
    ) -> Int[Tensor, "batch pos_out"]:
        """Sample continuations (context cropped to the last n_ctx tokens)."""
        for _ in range(max_new_tokens):
            logits = self(tokens[:, -self.cfg.n_ctx :])[:, -1, :]
            if temperature <= 0:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                nxt = torch.multinomial(F.softmax(logits, -1), 1, generator=generator)
            tokens = torch.cat([tokens, nxt], dim=1)
        return tokens

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wpe.weight.numel() + self.wte.weight.numel()
        return n
