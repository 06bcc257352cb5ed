"""SAE evaluation against ground truth (issue 20): supervised dictionaries and Makelov et al.'s three axes on IOI,
and the corpus's exact per-token attributes (F1, k-sparse probing, first-letter absorption).

>>> from saes.ground_truth import evaluate_ground_truth, ground_truth_frame
>>> result = evaluate_ground_truth(model, sae)      # result.scores: flat dict; result.tables: DataFrames
"""

from interp.analysis.probes import fit_logistic
from saes.ground_truth.absorption import first_letter_absorption
from saes.ground_truth.control import edit_score, greedy_edit, swap_edit
from saes.ground_truth.corpus import corpus_activations, corpus_metrics
from saes.ground_truth.evaluate import GroundTruth, evaluate_ground_truth, ground_truth_frame
from saes.ground_truth.interpretability import f1_ranking, interpretable_latents, latent_f1
from saes.ground_truth.ioi import evaluate_ioi, ioi_attribute_prompts
from saes.ground_truth.probing import sparse_probing
from saes.ground_truth.supervised import SupervisedDictionary

__all__ = ["GroundTruth", "SupervisedDictionary", "corpus_activations", "corpus_metrics", "edit_score",
           "evaluate_ground_truth", "evaluate_ioi", "first_letter_absorption", "fit_logistic", "greedy_edit",
           "f1_ranking", "ground_truth_frame", "interpretable_latents", "ioi_attribute_prompts", "latent_f1",
           "sparse_probing", "swap_edit"]
