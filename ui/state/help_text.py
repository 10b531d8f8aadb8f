"""Plain-words explanations of every setting the New-run wizard shows, keyed by config path.

Written for someone who has never fine-tuned a model: what the setting does, and
which way to turn it. The wizard puts each one next to its widget as a tooltip.
"""

from __future__ import annotations

from gemma_jax.config.learning_rates import typical_range

HELP: dict[str, str] = {
    # data
    "data.train_path": "The examples to learn from: an uploaded file, a path on the server, hf:NAME (Hugging Face), "
    "tfds:NAME (TensorFlow Datasets), gs://bucket/file, or 'example' for the small pirate Q&A set that ships with "
    "gemma-jax.",
    "data.validation_path": "A separate file to measure progress on. Leave empty to hold out part of the training "
    "file instead.",
    "data.validation_fraction": "Share of the training examples kept aside to check the model on data it has not "
    "seen (0.1 = one in ten). Used when no validation file is given.",
    "data.test_fraction": "Share of the examples kept aside for a final test after training (0 = none).",
    "data.format": "How the file is written. 'auto' guesses from the file name (.jsonl, .csv, .tsv, .txt, .xlsx, "
    ".parquet).",
    "data.shape": "What one example looks like: a prompt and a response, a whole chat, plain text, a text with a "
    "label, or a preferred and a rejected answer (for DPO). 'auto' decides from the column names.",
    "data.prompt_column": "The column with what the user asks.",
    "data.response_column": "The column with the answer the model should learn to give.",
    "data.messages_column": "The column holding a whole conversation (a list of messages with role and content).",
    "data.text_column": "The column with plain text (continued pretraining) or the text to classify.",
    "data.label_column": "The column with the class name each text belongs to (classification).",
    "data.chosen_column": "Preference data: the better answer.",
    "data.rejected_column": "Preference data: the worse answer.",
    "data.system_column": "Optional column with instructions or context (such as Alpaca's input) put before "
    "every prompt.",
    "data.infer_columns": "Map look-alike column names (question -> prompt, answer -> response) when it is "
    "unambiguous.",
    "data.loss_on": "Which tokens the model is graded on: only the responses (usual for chat) or every token "
    "(plain text).",
    "data.sequence_length": "The longest example, in tokens, the model sees at once. Longer uses more memory; "
    "examples longer than this are cut.",
    "data.packing": "Put several short examples into one row so less compute is spent on padding. Usually on.",
    "data.shuffle": "Mix the order of the examples each epoch. Usually on.",
    "data.seed": "A number that fixes the random choices (shuffling, splits) so a run can be repeated exactly.",
    "data.split_by": "Keep the share of each label (or value of this column) the same in the training and "
    "validation sets. Empty: a random split.",
    "data.clean_html": "Remove HTML tags and keep only the visible text.",
    "data.unicode_form": "Write look-alike characters one way (NFC is safe; NFKC also turns ligatures and "
    "full-width letters into plain ones).",
    "data.drop_control_chars": "Remove invisible control characters that can confuse the tokenizer.",
    "data.normalize_whitespace": "Turn odd spaces, runs of spaces and many blank lines into single ones.",
    "data.allow_special_tokens": "Let text such as <start_of_turn> in your data act as a control token. Off keeps "
    "it as plain text, which is safer.",
    "data.truncation": "What to cut when an example is too long: the end (right), the start (left), or the start "
    "of the prompt while keeping the whole response.",
    "data.augment.methods": "Make extra training copies of each example with small word changes (synonyms, "
    "insertions, deletions, swaps), or rewritten by the model. Helps with very small datasets.",
    "data.augment.copies": "How many changed copies to make of each example per method.",
    # model
    "model.source": "The Gemma to start from. gemma3_270m is built in (no download); tiny:gemma3 and tiny:gemma "
    "are toy models for a quick try; larger ones are downloaded from Kaggle or Hugging Face.",
    "model.adapter": "A LoRA adapter in PEFT's format (a folder with adapter_config.json) to fold into the base "
    "model first: training starts from the adapted model, and evaluation compares against it. Leave empty for the "
    "plain base.",
    "model.dtype": "Number precision. bfloat16 halves memory and is fast on GPUs and TPUs; float32 is exact and "
    "needed on most CPUs. 'auto' picks for the hardware.",
    "model.remat": "Recompute in-between results during training instead of storing them: less memory, about a "
    "third slower.",
    # method
    "method.kind": "How much of the model changes. LoRA trains small add-on matrices (fast, little memory); "
    "QLoRA also stores the base model compressed (least memory); full changes every weight (most memory); DPO "
    "learns from pairs of a better and a worse answer.",
    "method.lora_rank": "Size of the LoRA add-ons. Higher learns more but uses more memory; 8 to 32 is typical.",
    "method.lora_alpha": "How strongly the LoRA add-ons act. A common choice is twice the rank.",
    "method.lora_targets": "Which parts of each layer get LoRA add-ons. query and value is the classic choice; "
    "adding the feed-forward parts learns more.",
    "method.lora_dropout": "Randomly switch off part of the LoRA add-ons while training so they do not "
    "memorise the data. 0 = off; 0.05-0.1 helps on small datasets.",
    "method.quantization": "QLoRA: how the frozen base weights are compressed. int8 is closer to the original; "
    "int4 uses half the memory of int8.",
    "method.dpo_beta": "DPO: how close the model must stay to the original. Higher = smaller changes.",
    # optimizer and schedule
    "optimizer.name": "The rule that updates the weights. AdamW is the safe default; Adafactor and Lion use "
    "less memory; SGD is the simplest.",
    "optimizer.learning_rate": "How big each update step is. Too high and the loss jumps or becomes NaN; too low "
    f"and the model barely changes. For LoRA, {typical_range('lora')} is usual: only the small adapters train, so "
    "they take larger steps than full fine-tuning. The low end is the safe choice for long runs on larger models; "
    "small models and short runs need the high end to learn in time (the quick start uses 1e-3 for its 30 steps "
    f"on the 270M model). Full fine-tuning wants about ten times less ({typical_range('full')}), DPO less still "
    f"({typical_range('dpo')}); Lion about three to ten times less than AdamW.",
    "optimizer.weight_decay": "Gently pulls weights towards zero to reduce over-fitting. 0 to 0.1.",
    "optimizer.max_grad_norm": "Limits how big one update can be (gradient clipping), which prevents sudden "
    "jumps in the loss. 1.0 is typical; empty turns it off.",
    "optimizer.b1": "AdamW/Lion: how much the previous update direction carries over (0.9 is standard).",
    "optimizer.b2": "AdamW/Lion: how slowly the step size adapts (0.999 is standard).",
    "optimizer.eps": "AdamW: a tiny number that avoids dividing by zero. Rarely changed.",
    "optimizer.momentum": "SGD: how much the previous update carries over.",
    "schedule.name": "How the learning rate changes over the run: constant, falling in a straight line, or "
    "falling along a cosine curve (smooth, the usual choice).",
    "schedule.warmup_steps": "Steps at the start during which the learning rate climbs from zero to its peak. "
    "Avoids a rough start.",
    "schedule.min_lr_ratio": "The learning rate at the end, as a fraction of the peak (0 = decays to zero).",
    # train
    "train.batch_size": "How many rows the model learns from per step (all of them, however many pieces "
    "gradient accumulation splits them into). On a GPU or TPU a bigger batch is faster per example until memory "
    "runs out; on a CPU it only makes fewer, slower steps, so a small batch (8) learns faster per minute.",
    "train.grad_accum_steps": "Split each batch into this many smaller pieces processed one after another: the "
    "same batch with less memory, a bit slower.",
    "train.epochs": "How many times to go through the whole training set. 1-3 is usual; more risks memorising. "
    "Not used while Max steps is set.",
    "train.max_steps": "Stop after this many steps. When set it decides the run's length and Epochs is not used "
    "(the note below it says how many epochs that makes). Empty: run the Epochs.",
    "train.log_every_steps": "How often to record loss and speed.",
    "train.seed": "A number that fixes the random start so a run can be repeated.",
    "train.webhook_url": "A web address that is told (with a POST) when the run completes, fails or is stopped.",
    # eval and checkpoints
    "eval.every_steps": "How often to measure the loss on the validation set (0 = never).",
    "eval.max_batches": "How many validation batches each measurement uses (more = more precise, slower).",
    "eval.early_stop_patience": "Stop when the validation loss has not improved this many times in a row. 0 = "
    "never stop early.",
    "eval.early_stop_min_delta": "How much the validation loss must drop to count as an improvement.",
    "eval.sample_every_steps": "How often the model answers the sample prompts so you can read its progress "
    "(0 = never).",
    "eval.max_new_tokens": "Longest sample answer, in tokens.",
    "checkpoint.every_steps": "How often the training state is saved, so a stopped run can continue.",
    "checkpoint.keep": "How many recent checkpoints to keep on disk.",
    "checkpoint.keep_best": "Also keep the checkpoint with the lowest validation loss.",
    "checkpoint.storage_class": "Cloud Storage class of a gs:// checkpoint folder, for its monthly cost estimate.",
    "checkpoint.price_per_gib_month": "Your price in USD per GiB-month for that estimate (empty: the class's list "
    "price).",
    "checkpoint.save": "What a checkpoint holds: only the trained weights (small; LoRA add-ons with LoRA) or the "
    "whole model.",
    "name": "A short name for the run; it starts the run's folder name and is how the Runs page lists it. "
    "Letters, digits, '-' and '_'.",
}

# Field names that say too little on their own ("name", "kind") get a label of their own.
LABELS: dict[str, str] = {
    "name": "Run name",
    "method.kind": "Method",
    "method.lora_rank": "LoRA rank",
    "method.lora_alpha": "LoRA alpha",
    "method.lora_targets": "LoRA targets",
    "method.lora_dropout": "LoRA dropout",
    "method.dpo_beta": "DPO beta",
    "model.dtype": "Precision",
    "model.remat": "Recompute activations (remat)",
    "optimizer.name": "Optimizer",
    "optimizer.max_grad_norm": "Gradient clipping (max norm)",
    "schedule.name": "Learning-rate schedule",
    "schedule.min_lr_ratio": "Final learning rate (fraction of peak)",
    "train.grad_accum_steps": "Gradient accumulation steps",
    "train.seed": "Training seed",
    "data.seed": "Data seed",
    "data.augment.methods": "Augmentation",
    "data.augment.copies": "Augmented copies",
    "data.split_by": "Stratify split by",
    "data.loss_on": "Learn from",
    "data.shape": "Shape",
    "eval.every_steps": "Evaluate every N steps",
    "eval.sample_every_steps": "Sample answers every N steps",
    "checkpoint.every_steps": "Save every N steps",
    "checkpoint.keep": "Checkpoints kept",
}


def label_for(path: str) -> str:
    """A short widget label for a config path: its own label, else the field name in words."""
    return LABELS.get(path) or path.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def help_for(path: str) -> str:
    """The explanation for a config path, or '' when there is none."""
    return HELP.get(path, "")
