"""``CircuitConfig``: every option of ``interp circuit`` (each field is a flag; its docstring is the help)."""

from __future__ import annotations

from dataclasses import dataclass

from circuits.acdc import OBJECTIVES
from circuits.attribute import METHODS
from circuits.patched import ABLATIONS
from circuits.select import SELECTIONS
from interp.errors import ConfigError

ALIASES = {"eap-ig": "eap-ig-inputs"}


@dataclass
class CircuitConfig:
    """Options of ``interp circuit``: the model and task, how edges are scored, how the circuit is chosen."""

    run_dir: str = ""
    """The model: a run directory of this workbench (any preset, an import or an LN-free run)."""
    task: str = "ioi"
    """The task's clean/corrupted prompt pairs and metric (interp.tasks.pairs): ioi, induction, capitals,
    greater_than, colored_objects or multiple_choice."""
    method: str = "eap-ig-inputs"
    """How edges are scored: eap (one gradient), eap-ig-inputs (alias eap-ig; integrated gradients over the input
    embeddings, MIB's recommendation), eap-ig-activations (over every node's output), exact (one patched run per
    edge: the reference, slow on large graphs) or acdc (greedy pruning against --threshold)."""
    ablation: str = "patching"
    """What an edge outside the circuit carries: patching (the corrupted prompt's value), mean (the mean over
    prompts and positions), mean-positional (the mean over prompts, per position) or zero."""
    ig_steps: int = 5
    """Integrated-gradient steps of the eap-ig methods (Hanna et al. use 5 to 20); ignored by the others."""
    selection: str = "top-n"
    """How the circuit is chosen from scores: top-n (the --top-n highest |score| edges), greedy (grown from the
    logits, --top-n edges, always connected) or threshold (|score| >= --threshold); dangling nodes are pruned.
    ACDC's circuit is its own."""
    top_n: int = 200
    """Edges in the circuit for top-n and greedy selection (at most the graph's edges)."""
    threshold: float = 0.01
    """For --selection threshold: the smallest |score| kept; for --method acdc: the largest rise of the
    objective an edge's removal may cause (ACDC's tau)."""
    objective: str = "kl"
    """ACDC's objective: kl (KL divergence from the full model at the metric's position, ACDC's default) or metric
    (absolute change of the task metric)."""
    per_position: bool = False
    """Score each edge at each position (graph edges x positions); the circuit is then chosen per position."""
    n_prompts: int = 64
    """Clean/corrupted prompt pairs (one batch)."""
    seed: int = 0
    """Seed of the prompt pairs."""
    curve: bool = True
    """Measure the faithfulness curve at MIB's edge percentages (0.1 .. 100%) with CPR and CMD."""
    known_circuit: str = ""
    """A JSON file with {"edges": [edge names]} (e.g. a planted or published circuit): the report adds the edge
    ROC AUC of the scores against it and its faithfulness. '': none."""
    out_dir: str = ""
    """Directory for circuit.json, graph files and report.html; '': RUN_DIR/circuits/TASK-METHOD."""
    overwrite: bool = False
    """Replace an existing result in out_dir (without it a finished result is kept and the command refuses)."""
    device: str = "auto"
    """Device: auto (cuda when available, else cpu), cpu, cuda or cuda:N."""
    progress: bool = True
    """Show progress bars."""

    def __post_init__(self) -> None:
        self.method = ALIASES.get(self.method, self.method)

    def validate(self) -> None:
        choices = {"method": (*METHODS, "acdc"), "ablation": ABLATIONS, "selection": SELECTIONS,
                   "objective": OBJECTIVES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"--{name} {getattr(self, name)!r} is not one of {list(allowed)}.")
        if not self.run_dir:
            raise ConfigError("Give the run directory of a trained model: interp circuit RUN_DIR --task ioi.")
        if self.n_prompts < 1 or self.ig_steps < 1 or self.top_n < 0:
            raise ConfigError("--n-prompts and --ig-steps must be >= 1 and --top-n >= 0.")
