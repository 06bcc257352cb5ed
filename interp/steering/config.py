"""``SteerConfig``: every option of ``interp steer`` (each field is a flag; its docstring is the help)."""

from __future__ import annotations

from dataclasses import dataclass

from interp.errors import ConfigError


@dataclass
class SteerConfig:
    """Options of ``interp steer``: the model, the concept and goal, the methods and strengths, the prompts."""

    run_dir: str = ""
    """The trained model to steer: a run directory of this workbench whose corpus has the concepts
    (interp.data.corpus.concepts)."""
    concept: str = "sea"
    """The concept to steer: rude (a register of insults, standing in for toxicity), sea (a topic) or sad (a
    mood); each has an exact detector of its words."""
    goal: str = "both"
    """add (make the concept appear in continuations of prompts without it), remove (suppress it in continuations
    of prompts that show it) or both."""
    methods: str = ""
    """Comma-separated methods: diffmean, actadd, probe, ablate (remove only), sae and sae_clamp (add only; both
    need --sae-dir). '': every method that fits the goal (the SAE ones when --sae-dir is given)."""
    strengths: str = "1,2,4,8,16,32"
    """Comma-separated strengths to try, in units of the DiffMean direction's length (ablation: share of the
    component removed, 1 all of it; clamping: multiples of the features' typical activation). 0 is always added:
    the unsteered model."""
    hook: str = ""
    """Where to steer: a hook name (blocks.1.hook_resid_pre) or an alias the model knows. '': the residual stream
    before the middle block. SAE methods steer at the SAE's own hook."""
    positions: str = "prompt"
    """Which positions to edit: prompt (the prompt's positions; the new tokens read them through attention and
    are not edited: on the quickstart model this added the sea to 62% of continuations at a fluency cost of 0.2
    nats, against 0.87 nats for the same rate when every position was edited), all, last (the last of each
    forward pass: every new token when generating) or from:N (position N on)."""
    sae_dir: str = ""
    """An SAE of this model (workbench or SAELens format) for the sae and sae_clamp methods; '': no SAE methods."""
    sae_features: int = 4
    """How many of the concept's top SAE features (ranked by activation and frequency on concept stories) to
    steer with: the detox paper's aggressiveness, with the strengths."""
    fit: str = "stories"
    """What the directions (and SAE feature ranking) are fitted on: stories (every token of whole stories with
    and without the concept) or prefixes (the last token of story openings with and without it, where the next
    sentence is decided, as contrastive activation addition reads it; on the quickstart model its DiffMean
    added the sea to 9% of continuations where the stories' reached 62%)."""
    n_prompts: int = 64
    """Prompts per split: the dev split chooses each method's strength, the test split reports it."""
    n_fit: int = 64
    """Texts with and without the concept that the directions are fitted on (each; their own split)."""
    max_new_tokens: int = 32
    """Tokens sampled per continuation."""
    temperature: float = 1.0
    """Sampling temperature of the continuations."""
    val_windows: int = 8
    """Validation windows for the steered model's own validation loss (another fluency measure: every position of
    a window is steered, prompt mode included, so it is the cost of steering all text); 0: skip it."""
    seed: int = 0
    """Seed of the sampling (every method and strength draws the same random numbers)."""
    out_dir: str = ""
    """Directory for results.json, report.html and the chosen steerings; '': RUN_DIR/steering/CONCEPT."""
    overwrite: bool = False
    """Replace an existing result in out_dir (without it a finished result is kept and the command refuses)."""
    device: str = "auto"
    """Device: auto (cuda when available, else cpu), cpu, cuda or cuda:N."""
    progress: bool = True
    """Show a progress bar."""

    def goals(self) -> list[str]:
        return ["add", "remove"] if self.goal == "both" else [self.goal]

    def method_names(self) -> list[str]:
        return [m.strip() for m in self.methods.split(",") if m.strip()]

    def strength_list(self) -> list[float]:
        try:
            values = [float(s) for s in self.strengths.split(",") if s.strip()]
        except ValueError as err:
            raise ConfigError(f"--strengths must be comma-separated numbers (e.g. 0,1,2,4,8), got "
                              f"{self.strengths!r}.") from err
        if not [v for v in values if v != 0]:
            raise ConfigError(f"--strengths {self.strengths!r} has no strength to try besides 0: give e.g. 1,2,4,8.")
        return sorted({0.0, *values})

    def validate(self) -> None:
        if not self.run_dir:
            raise ConfigError("Give the run to steer: interp steer RUN_DIR (or run_dir=...).")
        if self.goal not in ("add", "remove", "both"):
            raise ConfigError(f"--goal {self.goal!r}: use add, remove or both.")
        self.strength_list()
        for name in ("n_prompts", "n_fit", "max_new_tokens", "sae_features"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.fit not in ("prefixes", "stories"):
            raise ConfigError(f"--fit {self.fit!r}: use prefixes or stories.")
        if self.temperature <= 0 or self.val_windows < 0:
            raise ConfigError("temperature must be positive and val_windows >= 0.")
