"""A head over the frozen encoder's token states: the linear probe of the pooled vector plus, per class, a smooth
maximum of per-token linear scores.

Mean pooling blurs what a few words decide (the "how many" of a question, a spam keyword): their states are averaged
with every other token's. Here each token also gets a score per class, and the class's logit adds their smooth
maximum, log(mean over tokens of exp(score)), so one telling token can lift its class however long the text. Both
parts share one L2 penalty whose C is chosen by CV log loss over the same grid as the linear head's. In the benchmark
it is more accurate than the linear head with its automatic options, most of all on question types
(`hs_frozen_tokens` in BENCHMARKS.md).

Token states are not cached (a few hundred texts hold hundreds of thousands of them), so every fit and predict runs
the encoder, and the training texts' states are held in memory during the fit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import HeadstartError
from .heads import (
    C_GRID,
    NO_CV,
    NO_CV_C,
    choose_C,
    cv_folds,
    cv_scores,
    first_of_rows,
    out_of_fold,
    row_space,
    sample_weights,
    walk_grid,
)

# Training token states above this many bytes are refused with advice, instead of exhausting memory.
MEMORY_LIMIT_BYTES = 4 * 2**30
# On the largest gradient entry of the summed fold objectives, in float32: 1e-3 stopped the walk over C early and cost
# accuracy on question types.
CV_TOLERANCE = 1e-4
TOLERANCE = 1e-6


class TokenHead(nn.Module):
    def __init__(self, n_features: int, token_features: int, n_classes: int):
        super().__init__()
        self.pooled = nn.Linear(n_features, n_classes)
        self.tokens = nn.Linear(token_features, n_classes, bias=False)
        for parameter in self.parameters():
            nn.init.zeros_(parameter)

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor, text_of: torch.Tensor) -> torch.Tensor:
        """pooled (texts, features); tokens (all texts' tokens, token features) as ``pack_tokens`` gives them, with
        the text each token belongs to."""
        return self.pooled(pooled) + smooth_max(self.tokens(tokens), text_of, len(pooled))


def smooth_max(scores: torch.Tensor, text_of: torch.Tensor, n_texts: int) -> torch.Tensor:
    """log(mean over each text's tokens of exp(score)): scores (..., tokens, classes) -> (..., texts, classes)."""
    shape = (*scores.shape[:-2], n_texts, scores.shape[-1])
    index = text_of.view(*([1] * (scores.dim() - 2)), -1, 1).expand_as(scores)
    # Each text's largest score is taken out before exp, for range; it is a constant shift, so it needs no gradient.
    top = scores.new_full(shape, -torch.inf).scatter_reduce(-2, index, scores.detach(), "amax")
    sums = scores.new_zeros(shape).scatter_add(-2, index, torch.exp(scores - top.gather(-2, index)))
    # Every text has at least one token (Encoder.token_states keeps one); a text without would get -inf logits.
    counts = torch.bincount(text_of, minlength=n_texts).unsqueeze(-1)
    return top + torch.log(sums) - torch.log(counts)


def pack_tokens(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts' token states (tokens_i, features) as one (all tokens, features) matrix and the text of each token: no
    padding, so a batch of short and long texts costs what its tokens cost."""
    if not states:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    text_of = torch.repeat_interleave(torch.arange(len(states)), torch.tensor([len(s) for s in states]))
    return torch.cat(states), text_of


def check_memory(n_texts: int, n_tokens: int, all_layers: int, token_features: int) -> None:
    """Refuse, before encoding, a fit whose token states would not fit: every layer's states as encoded, the chosen
    layers' copy and its packed copy, 4 bytes a number."""
    needed = n_tokens * (all_layers + 2 * token_features) * 4
    if needed > MEMORY_LIMIT_BYTES:
        raise HeadstartError(
            f"head='tokens' holds every training token's vectors in memory: {n_texts} texts ({n_tokens:,} tokens) "
            f"need {needed / 2**30:.1f} GiB (limit {MEMORY_LIMIT_BYTES / 2**30:.0f} GiB); use head='linear', "
            "or fewer or shorter texts (max_length)"
        )


def fit_token_heads(
    pooled: torch.Tensor,
    tokens: torch.Tensor,
    text_of: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor,
    C: float,
    n_classes: int,
    rows: torch.Tensor | None = None,
    init: list[TokenHead] | None = None,
    tolerance: float = TOLERANCE,
    max_iter: int = 500,
) -> list[TokenHead]:
    """Fit one head per row of ``rows`` (0/1, (heads, texts); default: one head on every text), each minimising
    mean(w * cross-entropy) + ||W||² / (2 C n) over its rows, the linear head's objective.

    The heads share nothing, so one L-BFGS run over the sum of their objectives reaches each one's optimum, and the
    folds of a cross-validation cost one optimizer's overhead instead of k.
    """
    rows = torch.ones(1, len(y)) if rows is None else rows
    k, n = len(rows), len(y)
    counts = rows.sum(dim=1, keepdim=True)
    row_weights = rows * weights / counts  # (heads, texts)
    pooled_weight = torch.zeros(k, n_classes, pooled.shape[1])
    bias = torch.zeros(k, n_classes)
    token_weight = torch.zeros(k, n_classes, tokens.shape[1])
    if init is not None:
        with torch.no_grad():
            for f, head in enumerate(init):
                pooled_weight[f], bias[f], token_weight[f] = head.pooled.weight, head.pooled.bias, head.tokens.weight
    parameters = [pooled_weight.requires_grad_(), bias.requires_grad_(), token_weight.requires_grad_()]
    optimizer = torch.optim.LBFGS(
        parameters,
        max_iter=max_iter,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=tolerance,
        tolerance_change=1e-12,
    )
    onehot = F.one_hot(y, n_classes).float()

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        scores = (tokens @ token_weight.reshape(k * n_classes, -1).T).reshape(-1, k, n_classes).transpose(0, 1)
        logits = (pooled @ pooled_weight.reshape(k * n_classes, -1).T).reshape(n, k, n_classes).transpose(0, 1)
        logits = logits + bias[:, None, :] + smooth_max(scores, text_of, n)
        cross_entropy = -(torch.log_softmax(logits, dim=2) * onehot).sum(dim=2)  # (heads, texts)
        penalty = (pooled_weight.square().sum(dim=(1, 2)) + token_weight.square().sum(dim=(1, 2))) / (
            2 * C * counts[:, 0]
        )
        value = (row_weights * cross_entropy).sum() + penalty.sum()
        value.backward()
        return value

    optimizer.step(loss)
    heads = []
    for f in range(k):
        head = TokenHead(pooled.shape[1], tokens.shape[1], n_classes)
        with torch.no_grad():
            head.pooled.weight.copy_(pooled_weight[f])
            head.pooled.bias.copy_(bias[f])
            head.tokens.weight.copy_(token_weight[f])
        heads.append(head.eval())
    return heads


def train_token_head(
    pooled: np.ndarray,
    states: list[torch.Tensor],
    y: np.ndarray,
    n_classes: int,
    C: float | None = None,
    class_weight: str | None = None,
    seed: int = 0,
) -> tuple[TokenHead, dict]:
    """Choose C by stratified CV log loss (``walk_grid``), then fit on every example; returns the head and what
    training chose and measured.

    The walk over C starts where the linear probe's CV on the same pooled vectors and folds settled (cheap), not at
    C = 1: the token head's CV loss is nearly flat where the probe's is lowest, and each step of the walk is an L-BFGS
    run, so starting there saves steps at the same mean accuracy. Its folds are fitted to a tolerance, so where the
    walk starts can move the chosen C by a grid step or two (see BENCHMARKS.md).
    """
    tokens, text_of = pack_tokens(states)
    X = torch.as_tensor(pooled, dtype=torch.float32)
    y_t = torch.as_tensor(y)
    weights = sample_weights(y, n_classes, class_weight)
    grid = C_GRID if C is None else (float(C),)
    first = first_of_rows(pooled)
    splits = cv_folds(y, n_classes, seed, first)
    info: dict = {"head": "tokens"}
    if splits:
        rows = torch.ones(len(splits), len(y))
        for f, (_, val) in enumerate(splits):
            rows[f, val] = 0.0
        fits: dict[int, list[TokenHead]] = {}
        predictions: dict[int, np.ndarray] = {}

        def evaluate(i: int, start: int | None) -> np.ndarray:
            fits[i] = fit_token_heads(
                X, tokens, text_of, y_t, weights, grid[i], n_classes, rows, fits.get(start), CV_TOLERANCE, 200
            )
            proba = np.zeros((len(y), n_classes))
            with torch.no_grad():
                for head, (_, val) in zip(fits[i], splits):
                    proba[val] = torch.softmax(head(X, tokens, text_of)[val], dim=1).numpy()
            losses, predictions[i] = out_of_fold(proba, y, splits)
            return losses

        best = walk_grid(
            grid, evaluate, start=linear_probe_C(pooled, y, weights, n_classes, seed, first) if C is None else 1.0
        )
        chosen = grid[best]
        info.update(
            C=float(chosen),
            C_chosen_by="given" if C is not None else f"{len(splits)}-fold CV",
            validation=cv_scores(y, predictions[best], len(splits)),
        )
    else:
        chosen = grid[0] if C is not None else NO_CV_C
        info.update(C=float(chosen), C_chosen_by="given" if C is not None else NO_CV)
    (head,) = fit_token_heads(X, tokens, text_of, y_t, weights, chosen, n_classes)
    return head, info


def linear_probe_C(
    pooled: np.ndarray, y: np.ndarray, weights: torch.Tensor, n_classes: int, seed: int, first: np.ndarray
) -> float:
    """The C the linear head's CV chooses on the same pooled vectors and folds."""
    Z, curvature, _ = row_space(pooled)
    return choose_C(Z, curvature, y, weights.numpy().astype(np.float64), n_classes, seed, first=first)[0]


def head_from_state(state: dict[str, torch.Tensor]) -> TokenHead:
    n_classes, n_features = state["pooled.weight"].shape
    head = TokenHead(n_features, state["tokens.weight"].shape[1], n_classes)
    head.load_state_dict(state)
    return head.eval()
