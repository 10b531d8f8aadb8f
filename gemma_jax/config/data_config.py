"""The `data` section of a JobConfig: where the examples come from and how they become token rows."""

from __future__ import annotations

from dataclasses import dataclass

from gemma_jax.config.field_spec import setting

# The implementations check at import that they provide exactly these (gemma_jax/data/augment.py).
AUGMENT_METHODS = ("synonym", "insert", "delete", "swap", "back_translation", "paraphrase")
_SHARE_OF_WORDS = "it is a share of the words, e.g. 0.1"


def _rate(help: str) -> float:
    return setting(0.1, help, low=0, high=1, hint=_SHARE_OF_WORDS, unit="share of the words")


@dataclass(frozen=True)
class AugmentConfig:
    """Extra copies of train examples (never validation or test); each is marked `augmentation`."""

    methods: tuple[str, ...] = setting(
        (),
        "Make extra training copies of each example with small word changes (synonyms, insertions, deletions, "
        "swaps), or rewritten by the model. Helps with very small datasets.",
        choices=AUGMENT_METHODS,
        label="Augmentation",
        wizard="data.advanced",
    )
    copies: int = setting(
        1,
        "How many changed copies to make of each example per method.",
        low=1,
        hint="it is how many copies each method makes of each example, e.g. 1",
        label="Augmented copies",
        wizard="data.advanced",
    )
    synonym_rate: float = _rate("synonym: the share of words replaced by a synonym.")
    insert_rate: float = _rate("insert: synonyms inserted at random places, as a share of the words.")
    delete_rate: float = _rate("delete: the chance that each word is deleted.")
    swap_rate: float = _rate("swap: swaps of two random words, as a share of the words.")
    turns: str = setting(
        "user", "Which turns of a chat change: the user's, the model's, or all.", choices=("user", "model", "all")
    )
    pivot_language: str = setting(
        "French", "back_translation: the language the loaded model translates there and back through."
    )
    source_language: str = setting("English", "back_translation: the language the data is written in.")
    max_new_tokens: int = setting(
        128, "back_translation / paraphrase: the longest generated text.", low=1, hint="e.g. 128", unit="tokens"
    )
    temperature: float = setting(
        0.7,
        "back_translation / paraphrase: sampling temperature (0: greedy, always the likeliest word).",
        low=0,
        hint="use 0 for greedy decoding, or e.g. 0.7",
    )


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they become token rows."""

    train_path: str = setting(
        "example",
        "The examples to learn from: an uploaded file, a path on the server, hf:NAME (Hugging Face), tfds:NAME "
        "(TensorFlow Datasets), gs://bucket/file, or 'example' for the small pirate Q&A set that ships with "
        "gemma-jax.",
        names_a_path=True,
    )
    validation_path: str | None = setting(
        None,
        "A separate file to measure progress on. Leave empty to hold out part of the training file instead.",
        names_a_path=True,
    )
    validation_fraction: float = setting(
        0.1,
        "Share of the training examples kept aside to check the model on data it has not seen (0.1 = one in "
        "ten). Used when no validation file is given.",
        low=0,
        high=0.9,
        hint="use 0 to hold nothing out, or e.g. 0.1 for 10%",
        wizard="data",
    )
    format: str = setting(
        "auto",
        "How the file is written. 'auto' guesses from the file name (.jsonl, .csv, .tsv, .txt, .xlsx, .parquet).",
        choices=("auto", "jsonl", "csv", "tsv", "json", "text", "xlsx", "xls", "parquet"),
        wizard="data.advanced",
    )
    prompt_column: str = setting("prompt", "The column with what the user asks.")
    response_column: str = setting("response", "The column with the answer the model should learn to give.")
    system_column: str | None = setting(
        None, "Optional column with instructions or context (such as Alpaca's input) put before every prompt."
    )
    messages_column: str = setting(
        "messages", "The column holding a whole conversation (a list of messages with role and content)."
    )
    text_column: str = setting("text", "The column with plain text (continued pretraining) or the text to classify.")
    label_column: str = setting("label", "The column with the class name each text belongs to (classification).")
    chosen_column: str = setting("chosen", "Preference data: the better answer.")
    rejected_column: str = setting("rejected", "Preference data: the worse answer.")
    shape: str = setting(
        "auto",
        "What one example looks like: a prompt and a response, a whole chat, plain text, a text with a label, or "
        "a preferred and a rejected answer (for DPO). 'auto' decides from the column names.",
        choices=("auto", "prompt_response", "chat", "text", "classification", "preference"),
        label="Shape",
        wizard="data",
    )
    infer_columns: bool = setting(
        False,
        "Map look-alike column names (question -> prompt, answer -> response) when it is unambiguous.",
        wizard="data.advanced",
    )
    source: str = setting(
        "auto",
        "How train_path is read: a file, a Hugging Face dataset or a TFDS dataset. 'auto' follows the name "
        "(hf:NAME, tfds:NAME, a save_to_disk folder).",
        choices=("auto", "file", "hf", "tfds"),
    )
    split: str = setting("train", "The split of a Hugging Face or TFDS dataset to read.")
    subset: str | None = setting(None, "A Hugging Face dataset's configuration name (empty: its default).")
    data_dir: str | None = setting(
        None, "TFDS data_dir or Hugging Face cache folder (empty: the library's default).", names_a_path=True
    )
    delimiter: str | None = setting(None, "CSV: the character between columns (empty: ',', a tab for .tsv).")
    quote_char: str = setting('"', "CSV: the character that quotes a cell holding the delimiter.")
    encoding: str = setting(
        "utf-8",
        "Text files' encoding, e.g. utf-8, latin-1, cp1252 (a byte-order mark is skipped). Set it when the data "
        "check says the file is not UTF-8 text.",
        hint="e.g. utf-8, latin-1, cp1252",
        label="Encoding",
        wizard="data.advanced",
    )
    header: bool = setting(
        True, "CSV/Excel: the first row names the columns (off: they are named column1, column2, ...)."
    )
    sheet: str | None = setting(None, "Excel: the sheet to read (empty: the first sheet).")
    text_mode: str = setting(
        "lines",
        "Plain text: one example per line, per block (blank-line separated), or per match of text_regex.",
        choices=("lines", "blocks", "regex"),
    )
    text_regex: str | None = setting(
        None, "text_mode regex: a pattern whose named groups become columns, e.g. (?P<prompt>...)."
    )
    loss_on: str = setting(
        "response",
        "Which tokens the model is graded on: only the responses (usual for chat) or every token (plain text).",
        choices=("response", "all"),
        label="Learn from",
        wizard="data",
    )
    sequence_length: int = setting(
        256,
        "The longest example, in tokens, the model sees at once. Longer uses more memory; examples longer than "
        "this are cut.",
        low=8,
        hint="typical values are 256 to 2048 tokens",
        unit="tokens",
        wizard="data",
    )
    packing: bool = setting(
        True,
        "Put several short examples into one row so less compute is spent on padding. Usually on.",
        wizard="data.advanced",
    )
    shuffle: bool = setting(True, "Mix the order of the examples each epoch. Usually on.", wizard="data.advanced")
    seed: int = setting(
        0,
        "A number that fixes the random choices (shuffling, splits) so a run can be repeated exactly.",
        label="Data seed",
        wizard="data.advanced",
    )
    test_path: str | None = setting(
        None, "A separate file for the final test. Leave empty to hold out test_fraction instead.", names_a_path=True
    )
    test_fraction: float = setting(
        0.0,
        "Share of the examples kept aside for a final test after training (0 = none).",
        low=0,
        high=0.9,
        hint="use 0 for no test split, or e.g. 0.1 for 10%",
        wizard="data.advanced",
    )
    split_by: str | None = setting(
        None,
        "Keep the share of each label (or value of this column) the same in the training and validation sets. "
        "Empty: a random split.",
        label="Stratify split by",
        wizard="data.advanced",
    )
    clean_html: bool = setting(False, "Remove HTML tags and keep only the visible text.", wizard="data.advanced")
    unicode_form: str | None = setting(
        "NFC",
        "Write look-alike characters one way (NFC is safe; NFKC also turns ligatures and full-width letters into "
        "plain ones).",
        choices=("NFC", "NFKC"),
        wizard="data.advanced",
    )
    drop_control_chars: bool = setting(
        True, "Remove invisible control characters that can confuse the tokenizer.", wizard="data.advanced"
    )
    normalize_whitespace: bool = setting(
        False, "Turn odd spaces, runs of spaces and many blank lines into single ones.", wizard="data.advanced"
    )
    allow_special_tokens: bool = setting(
        False,
        "Let text such as <start_of_turn> in your data act as a control token. Off keeps it as plain text, which "
        "is safer.",
        wizard="data.advanced",
    )
    truncation: str = setting(
        "right",
        "What to cut when an example is too long: the end (right), the start (left), or the start of the prompt "
        "while keeping the whole response.",
        choices=("right", "left", "keep_response"),
        wizard="data.advanced",
    )
    augment: AugmentConfig = setting(factory=AugmentConfig, help="Extra copies of train examples.")
