"""The model card: a README.md in every model folder that a person can read."""

from __future__ import annotations


def model_card(config: dict) -> str:
    """A README.md a person can read: what the model is, how it was trained, how well it did, how to use it."""
    training = config["training"]
    encoder = config.get("encoder", {})
    validation = training.get("validation")
    lines = [
        f"# headstart model: {config['strategy']}",
        "",
        f"A text classifier for {len(config['labels'])} labels: {', '.join(str(x) for x in config['labels'])}.",
        "",
        "## How it was made",
        f"- Strategy: `{config['strategy']}`"
        + (" (the encoder's weights θ were frozen; only the head ω was trained)" if config["strategy"] == "frozen" else ""),
    ]
    if encoder:
        lines.append(f"- Encoder: {encoder['name']} ({encoder['parameters']:,} parameters), fingerprint `{encoder['fingerprint'][:16]}`")
    params = config["params"]
    if "pooling" in params:
        lines.append(
            f"- Features: pooling `{params['pooling']}`, layers `{training.get('layers', params.get('layers'))}`"
            f"{' (' + str(params['layers']) + ')' if isinstance(params.get('layers'), str) else ''}"
            + ({"concat": ", concatenated", "mean": ", averaged"}.get(params.get("layer_combine"), ""))
            + ("" if params.get("normalize", True) else ", not normalised")
            + (f", {params['precision']}" if params.get("precision", "fp32") != "fp32" else "")
            + f", max_length {params['max_length']}"
            + (f", instruction {params['instruction']!r}" if params.get("instruction") else "")
            + (f", plus {training['lexical_terms']:,} word and character TF-IDF terms" if training.get("lexical_terms") else ""))
    if "vocabulary" in training:
        lines.append("- Features: TF-IDF of " + " and ".join(f"{n:,} {kind}" for kind, n in training["vocabulary"].items())
                     + " n-grams (word 1-2, character 2-5)")
    lines += [
        *([f"- Head: `{params['head']}`" + (" (the linear head plus a smooth maximum of per-token scores)" if params["head"] == "tokens" else "")]
          if "head" in params else []),
        f"- Trainable parameters: {training.get('trainable_parameters', 0):,}; frozen: {training.get('frozen_parameters', 0):,}",
        f"- Training data: {config['data']['examples']} examples, sha256 `{config['data']['sha256'][:16]}`; per class: "
        + ", ".join(f"{k} {v}" for k, v in config["data"]["class_counts"].items())
        + (f"; {training['truncated_texts']} longer than {params['max_length']} tokens, truncated" if training.get("truncated_texts") else ""),
        f"- Training time: {training['seconds']['fit']:.2f} s",
    ]
    if "C" in training:
        chosen_by = training.get("C_chosen_by", "given")
        lines.append(f"- L2 strength: C = {training['C']:g} ({chosen_by if chosen_by in ('given', 'default') else 'chosen by ' + chosen_by})")
    if params.get("class_weight"):
        lines.append(f"- Class weights: {params['class_weight']}")
    lines += ["", "## Validation"]
    if validation:
        lines.append(
            f"Accuracy {validation['accuracy']:.3f}, macro-F1 {validation['macro_f1']:.3f} "
            f"({validation['source']}, {validation['examples']} examples)."
        )
    else:
        lines.append("No validation numbers were measured; run `headstart evaluate` on held-out data.")
    lines += [
        "",
        "## Use",
        "```",
        "headstart predict THIS_FOLDER texts.txt --out predictions.csv",
        "```",
        "```python",
        "import headstart",
        'model = headstart.load("THIS_FOLDER")',
        'model.predict(["some text"])',
        "```",
        "",
        "Files: `headstart.json` (config and metrics), `*.safetensors` (weights; nothing here is pickled).",
        "",
    ]
    return "\n".join(lines)
