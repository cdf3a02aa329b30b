"""Classifier heads ω (torch modules) and their training on cached features.

``linear`` is multinomial logistic regression fitted by L-BFGS-B to the same objective as scikit-learn's
``LogisticRegression(C=...)``, in the span of the training rows; its L2 strength is chosen by stratified k-fold
CV, which costs almost nothing because the features are cached. ``mlp`` has one hidden layer with dropout, is trained
by AdamW and stops early on a validation split, restoring its best epoch. The same modules sit on top of the encoder
when a strategy trains θ.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from scipy.special import softmax
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits
from torch import nn

from .data import first_occurrence, split_distinct, stratified_split

HEADS = ("linear", "mlp")
FROZEN_HEADS = (*HEADS, "tokens")  # the token head reads token states, which only the frozen strategy keeps
C_GRID = tuple(float(c) for c in np.logspace(-2, 3, 11))
CV_TOLERANCE = 1e-3
CV_MAX_ITER = 100
FIT_TOLERANCE = 1e-5
FIT_MAX_ITER = 500
# Beyond, the penalty is negligible and the objective (scikit-learn's over C n) so flat that L-BFGS-B meets its gradient
# tolerance far from the optimum, and CV accuracy falls well below that of scikit-learn's optimum.
C_LIMIT = 1e4
NO_CV_C = 1.0  # scikit-learn's default C, for data with no CV: every class has a single example
NO_CV = "default (every class has a single example, too few for CV)"
MLP_HIDDEN = 256
MLP_DROPOUT = 0.2


class LinearHead(nn.Module):
    def __init__(self, n_features: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class MLPHead(nn.Module):
    def __init__(self, n_features: int, n_classes: int, hidden: int = MLP_HIDDEN, dropout: float = MLP_DROPOUT):
        super().__init__()
        self.hidden = nn.Linear(n_features, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(F.gelu(self.hidden(x))))


def make_head(kind: str, n_features: int, n_classes: int) -> nn.Module:
    return LinearHead(n_features, n_classes) if kind == "linear" else MLPHead(n_features, n_classes)


def head_from_state(state: dict[str, torch.Tensor]) -> nn.Module:
    """Rebuild a saved head from its tensors alone (their shapes say which head and how big)."""
    if "linear.weight" in state:
        n_classes, n_features = state["linear.weight"].shape
        head: nn.Module = LinearHead(n_features, n_classes)
    else:
        hidden, n_features = state["hidden.weight"].shape
        head = MLPHead(n_features, state["out.weight"].shape[0], hidden)
    head.load_state_dict(state)
    return head.eval()


def head_shape(head: nn.Module) -> tuple[int, int]:
    """(input features, classes) of a head: its first layer's inputs, its last layer's outputs."""
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    return linears[0].in_features, linears[-1].out_features


def sample_weights(y: np.ndarray, n_classes: int, class_weight: str | None) -> torch.Tensor:
    """One weight per example: all ones, or ``balanced`` (n / (classes * count of its class)) as in scikit-learn."""
    if class_weight is None:
        return torch.ones(len(y))
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    per_class = len(y) / (n_classes * np.maximum(counts, 1))
    return torch.as_tensor(per_class[y], dtype=torch.float32)


def first_of_rows(X: np.ndarray) -> np.ndarray:
    """``first_occurrence`` of feature rows: copies of a text have the same features."""
    return first_occurrence(row.tobytes() for row in np.ascontiguousarray(X))


def row_space(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Coordinates Z = X V of the rows in an orthonormal basis V (d, r) of their span, each direction's curvature
    (the eigenvalues of XᵀX), and the map from weights on Z back to weights on X's features (W Vᵀ).

    An L2-penalised linear model's weights lie in the span of its training rows, so fitting on Z and mapping back
    is exact. With fewer examples than features (the few-shot case) Z is far narrower than X, and because
    the basis diagonalises XᵀX a per-direction rescaling is a nearly exact preconditioner for L-BFGS.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    if d > n:
        curvature, U = np.linalg.eigh(X @ X.T)
        keep = curvature > max(curvature[-1], 1e-300) * 1e-10  # the rest is rounding noise in an empty direction
        curvature, U = curvature[keep], U[:, keep]
        # V = Xᵀ U / sqrt(curvature) is never formed: W Vᵀ = (W (U / sqrt(curvature))ᵀ) X costs far less.
        return U * np.sqrt(curvature), curvature, lambda W: (W @ (U / np.sqrt(curvature)).T) @ X
    curvature, V = np.linalg.eigh(X.T @ X)
    return X @ V, np.clip(curvature, 0.0, None), lambda W: W @ V.T


def fit_logistic(
    Z: np.ndarray,
    curvature: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    C: float,
    n_classes: int,
    masks: np.ndarray | None = None,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    tolerance: float = FIT_TOLERANCE,
    max_iter: int = FIT_MAX_ITER,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit k logistic regressions at once on ``row_space`` coordinates, problem f on the rows where ``masks[f]`` is 1
    (default: one problem, on all rows).

    Each minimises mean(w * cross-entropy) + ||W||² / (2 C n): scikit-learn's objective divided by C n. The
    problems share nothing, so one L-BFGS-B run over their sum reaches each one's optimum, and the k folds of a
    cross-validation cost one optimizer's overhead instead of k. Direction j is rescaled by the square root of
    its approximate Hessian diagonal (softmax curvature times its eigenvalue, plus the penalty), which cuts the
    iterations several-fold. Returns W (k, classes, r) and b (k, classes).
    """
    masks = np.ones((1, len(y))) if masks is None else masks
    k, n, r = len(masks), len(y), Z.shape[1]
    rows = masks.sum(axis=1)
    row_weights = (masks * weights / rows[:, None])[:, None, :]  # (k, 1, n)
    softmax_curvature = (1 / n_classes) * (1 - 1 / n_classes)
    scale = np.sqrt(softmax_curvature * curvature / n + 1 / (C * n))
    scale /= scale.max(initial=1e-300)
    # The solver's variables are Ws = W * scale. The two products run in float32, at twice the speed: the features
    # are float32 already, and the loss and the optimizer's state stay float64.
    Zs = (Z / scale).astype(np.float32)
    ZsT = np.ascontiguousarray(Zs.T)
    penalty = 1 / (C * scale**2 * rows[:, None, None])  # (k, 1, r)
    onehot = np.eye(n_classes)[y].T[
        None
    ]  # (1, classes, n): examples last, so the softmax reduces over a short axis fast
    split = k * n_classes * r

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        Ws, b = theta[:split].reshape(k, n_classes, r), theta[split:].reshape(k, n_classes)
        logits = (Ws.reshape(k * n_classes, r).astype(np.float32) @ ZsT).reshape(k, n_classes, n) + b[:, :, None]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        norm = exp.sum(axis=1, keepdims=True)
        loss = (row_weights * (np.log(norm) - logits) * onehot).sum() + (Ws**2 * penalty).sum() / 2
        G = (exp / norm - onehot) * row_weights
        grad_Ws = (G.reshape(k * n_classes, n).astype(np.float32) @ Zs).reshape(k, n_classes, r) + Ws * penalty
        return float(loss), np.concatenate([grad_Ws.ravel(), G.sum(axis=2).ravel()])

    theta = (
        np.zeros(split + k * n_classes)
        if init is None
        else np.concatenate([(init[0] * scale).ravel(), init[1].ravel()])
    )
    result = minimize(
        loss_and_gradient,
        theta,
        jac=True,
        method="L-BFGS-B",
        options={"gtol": tolerance, "ftol": 1e-12, "maxiter": max_iter, "maxcor": 20},
    )
    return result.x[:split].reshape(k, n_classes, r) / scale, result.x[split:].reshape(k, n_classes)


def cv_folds(
    y: np.ndarray, n_classes: int, seed: int, first: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold (train, validation) rows: k is 5, or the largest class's size when that is smaller; none
    when every class has a single example. Copies of a text (``first``: see ``first_occurrence``) share a fold,
    and count once.

    A class with a single example is trained on in every fold and validated in none (no fold's model could have
    learnt it), so a long tail of rare classes, common in real labels, still leaves the rest a CV. A class smaller
    than k lands in as many folds as it has examples, each fold training on the others.
    """
    first = np.arange(len(y)) if first is None else first
    # Not StratifiedGroupKFold over the copies: its other folds changed the quick benchmark's accuracies.
    return split_distinct(lambda keep: _cv_folds(y[keep], n_classes, seed), first)


def _cv_folds(y: np.ndarray, n_classes: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    counts = np.bincount(y, minlength=n_classes)
    folds = min(5, int(counts.max()))
    if folds < 2:
        return []
    validated = np.flatnonzero(counts[y] >= 2)
    always_trained = np.flatnonzero(counts[y] < 2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)  # the small classes are meant
        splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(validated, y[validated])
        return [(np.sort(np.concatenate([validated[train], always_trained])), validated[val]) for train, val in splits]


def walk_grid(
    grid: tuple[float, ...],
    evaluate: Callable[[int, int | None], np.ndarray],
    within_one_se: bool = False,
    start: float = 1.0,
) -> int:
    """The index of the grid value with the lowest mean CV log loss; ``evaluate(i, start)`` returns the per-example
    out-of-fold losses at ``grid[i]``, its fits starting from those at ``grid[start]`` (None: from zero).

    In practice the loss is a smooth function of C with one valley, so the walk starts at C = 1 (or the grid value
    nearest ``start``) and goes up the grid while the loss falls, or down if the first step up did not lower it. (On the
    benchmark problems this chose the same C as walking the whole path, for less: the large-C fits are the slow ones;
    see BENCHMARKS.md.) ``within_one_se`` takes the smallest C whose loss is within one standard error of the best
    (Breiman's one-SE rule) instead.
    """
    losses: dict[int, np.ndarray] = {}

    def walk(i: int, step: int, keep_going) -> None:
        while 0 <= i + step < len(grid):
            losses[i + step] = evaluate(i + step, i)
            i += step
            if not keep_going(i):
                return

    first = int(np.argmin(np.abs(np.log(grid) - np.log(start))))
    losses[first] = evaluate(first, None)
    walk(first, 1, lambda i: losses[i].mean() < losses[i - 1].mean())
    best = min(losses, key=lambda i: losses[i].mean())
    if best == first:
        walk(first, -1, lambda i: losses[i].mean() < losses[i + 1].mean())
        best = min(losses, key=lambda i: losses[i].mean())
    if within_one_se:
        bound = losses[best].mean() + losses[best].std(ddof=1) / np.sqrt(len(losses[best]))
        if losses[min(losses)].mean() <= bound:
            walk(min(losses), -1, lambda i: losses[i].mean() <= bound)
        best = min(i for i in losses if losses[i].mean() <= bound)
    return best


def out_of_fold(
    proba: np.ndarray, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """From the probabilities each row's held-out fold gave it: the validated rows' cross-entropies, and every row's
    predicted class (-1 for a row no fold validated)."""
    rows = np.sort(np.concatenate([val for _, val in splits]))
    predictions = np.full(len(y), -1)
    predictions[rows] = proba[rows].argmax(axis=1)
    return -np.log(np.clip(proba[rows, y[rows]], 1e-12, None)), predictions


def cv_scores(y: np.ndarray, predictions: np.ndarray, folds: int) -> dict:
    """``validation_scores`` of out-of-fold predictions, over the rows a fold validated."""
    rows = predictions >= 0
    return validation_scores(y[rows], predictions[rows], f"{folds}-fold CV", int(rows.sum()))


def choose_C(
    Z: np.ndarray,
    curvature: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    n_classes: int,
    seed: int,
    grid: tuple[float, ...] = C_GRID,
    within_one_se: bool = False,
    first: np.ndarray | None = None,
) -> tuple[float, np.ndarray | None, int]:
    """Pick C from ``grid`` by stratified k-fold CV log loss (see ``walk_grid``).

    Log loss (the out-of-fold cross-entropy) is a proper scoring rule: with a few dozen CV examples, accuracy
    moves in steps of one example and ties across much of the grid, so choosing by it scatters C from seed to seed,
    where log loss settles on one. The folds of one C are fitted together, each starting from its neighbour C's fit.
    ``within_one_se`` is for LP-FT's probe, which must leave its fine-tune some gradient: a probe fitted to the best
    loss left LP-FT less accurate (see BENCHMARKS.md).
    Returns the chosen C, the out-of-fold predictions made with it (see ``out_of_fold``), and k (None and 0 when
    every class has a single example, too few for CV).
    """
    splits = cv_folds(y, n_classes, seed, first)
    if not splits:
        return grid[0] if len(grid) == 1 else NO_CV_C, None, 0
    masks = np.ones((len(splits), len(y)))
    for f, (_, val) in enumerate(splits):
        masks[f, val] = 0.0
    fits: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    predictions: dict[int, np.ndarray] = {}

    # A looser tolerance suffices to rank C values (in the benchmark, the same mean test accuracy, in less time); the
    # final fit uses the tight default. A single C ranks nothing: its folds are fitted as tightly as the final fit, so
    # that its CV scores are the model's.
    tolerance, max_iter = (CV_TOLERANCE, CV_MAX_ITER) if len(grid) > 1 else (FIT_TOLERANCE, FIT_MAX_ITER)

    def evaluate(i: int, start: int | None) -> np.ndarray:
        fits[i] = W, b = fit_logistic(
            Z, curvature, y, weights, grid[i], n_classes, masks, fits.get(start), tolerance, max_iter
        )
        proba = np.zeros((len(y), n_classes))
        for f, (_, val) in enumerate(splits):
            proba[val] = softmax(Z[val] @ W[f].T + b[f], axis=1)
        losses, predictions[i] = out_of_fold(proba, y, splits)
        return losses

    best = walk_grid(grid, evaluate, within_one_se)
    return grid[best], predictions[best], len(splits)


def fit_mlp(
    X: torch.Tensor, y: np.ndarray, weights: torch.Tensor, n_classes: int, validation_fraction: float, seed: int
) -> tuple[MLPHead, dict]:
    """AdamW with early stopping on a stratified validation split (copies of a text on one side); the best epoch's
    weights are kept."""
    train, val = stratified_split(y, validation_fraction, seed, first_of_rows(X.numpy()))
    y_t = torch.as_tensor(y)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = MLPHead(X.shape[1], n_classes)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2)
    best_loss, best_state, best_epoch, patience, max_epochs = float("inf"), copy.deepcopy(head.state_dict()), 0, 20, 300
    watch = val if len(val) else train
    for epoch in range(1, max_epochs + 1):
        head.train()
        for rows in torch.randperm(len(train), generator=generator).split(32):
            idx = train[rows.numpy()]
            optimizer.zero_grad()
            loss = (weights[idx] * F.cross_entropy(head(X[idx]), y_t[idx], reduction="none")).mean()
            loss.backward()
            optimizer.step()
        head.eval()
        with torch.no_grad():
            val_loss = float(F.cross_entropy(head(X[watch]), y_t[watch]))
        if val_loss < best_loss - 1e-4:
            best_loss, best_state, best_epoch = val_loss, copy.deepcopy(head.state_dict()), epoch
        elif epoch - best_epoch >= patience:
            break
    head.load_state_dict(best_state)
    head.eval()
    info: dict = {"epochs_run": epoch, "best_epoch": best_epoch}
    if len(val):
        with torch.no_grad():
            pred = head(X[val]).argmax(dim=1).numpy()
        info["validation"] = validation_scores(y[val], pred, "held-out split", len(val))
    return head, info


def validation_scores(y_true: np.ndarray, y_pred: np.ndarray, source: str, n: int) -> dict:
    """Accuracy and macro-F1 of predictions on data the model did not train on, and where that data came from."""
    return {
        "source": source,
        "examples": int(n),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
    }


@contextlib.contextmanager
def one_thread():
    """Run torch and the BLAS libraries on one thread inside the block: a head's matrices are so small that a second
    thread only adds synchronisation, and a head's CV runs several times faster on one thread than on two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def train_head(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    kind: str = "linear",
    C: float | None = None,
    class_weight: str | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
    within_one_se: bool = False,
) -> tuple[nn.Module, dict]:
    """Train a head on features X (n, d) for integer labels y; returns it and what training chose and measured.
    ``within_one_se``: the linear head's C by the one-SE rule (see ``choose_C``). The options are the estimators' to
    check (``_parameter_constraints``)."""
    with one_thread():
        return _train_head(X, y, n_classes, kind, C, class_weight, validation_fraction, seed, within_one_se)


def _train_head(
    X, y, n_classes, kind, C, class_weight, validation_fraction, seed, within_one_se
) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    weights = sample_weights(y, n_classes, class_weight)
    if kind == "mlp":
        head, info = fit_mlp(torch.as_tensor(X, dtype=torch.float32), y, weights, n_classes, validation_fraction, seed)
        return head, {"head": kind, **info}
    Z, curvature, to_features = row_space(X)
    weights = weights.numpy().astype(np.float64)
    # A given C is still cross-validated, alone, so that validation numbers exist for every linear head.
    chosen, oof, folds = choose_C(
        Z, curvature, y, weights, n_classes, seed, C_GRID if C is None else (float(C),), within_one_se, first_of_rows(X)
    )
    rule = f"{folds}-fold CV" + (", one-SE rule" if within_one_se else "")
    info: dict = {"head": kind, "C": float(chosen), "C_chosen_by": "given" if C is not None else rule}
    if oof is None:
        info["C_chosen_by"] = "given" if C is not None else NO_CV
    else:
        info["validation"] = cv_scores(y, oof, folds)
    W, b = fit_logistic(Z, curvature, y, weights, float(chosen), n_classes)
    head = LinearHead(X.shape[1], n_classes)
    with torch.no_grad():
        head.linear.weight.copy_(torch.as_tensor(to_features(W[0])))
        head.linear.bias.copy_(torch.as_tensor(b[0]))
    return head.eval(), info
