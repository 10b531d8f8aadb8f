"""The run directory's schema: every file and folder name, status.json key, run state, metric key,
event kind and sample field, in one place.

The training process writes these names and the dashboard, CLI, evaluation and export read them
from other processes, often from other versions of the code; a key spelled twice drifts apart
silently (a plot stays empty, a card shows "-"). Writers and readers therefore take their names
from here, and tests/runs/test_run_schema.py checks a real run writes nothing this module does not
name. Plain strings only, no imports: every layer (the engine, the UI, the evaluator) may import it.
"""

from __future__ import annotations


def _values(namespace: type) -> tuple[str, ...]:
    """The string constants of a namespace class, in the order they are defined."""
    return tuple(value for name, value in vars(namespace).items() if name.isupper() and isinstance(value, str))


# -- files and folders of a run directory ------------------------------------------------------------
CONFIG_FILE = "config.yaml"  # the JobConfig as submitted; never rewritten
STATUS_FILE = "status.json"  # the engine's state (atomic replace); keys: Status
METRICS_FILE = "metrics.jsonl"  # one record per logged step (Metric) or event (Event)
LOG_FILE = "log.txt"  # `<time> <LEVEL> message`
SAMPLES_FILE = "samples.jsonl"  # greedy generations; keys: Sample
CONTROL_FILE = "control.json"  # the pending requests from the UI/CLI, oldest first (control_queue.py); keys: Control
TOKENIZER_FILE = "tokenizer.model"  # the vocabulary trained for a tiny:/random: model
PROCESS_LOG_FILE = "process.log"  # the training process's stdout/stderr when the job runner started it
TENSORBOARD_DIR = "events"  # TensorBoard scalars of the same numbers as metrics.jsonl
CHECKPOINTS_DIR = "checkpoints"  # one Orbax folder per kept step (unless checkpoint.directory moves them)
EVAL_DIR = "eval"  # evaluation reports: eval_folder_name()
EXPORT_DIR = "export"  # exports: export_folder_name()

CREATED_FILES = (CONFIG_FILE, STATUS_FILE, METRICS_FILE, LOG_FILE, SAMPLES_FILE)  # by RunStore.create
CREATED_DIRS = (TENSORBOARD_DIR, CHECKPOINTS_DIR, EVAL_DIR, EXPORT_DIR)  # by RunStore.create
RUN_FILES = (*CREATED_FILES, CONTROL_FILE, TOKENIZER_FILE, PROCESS_LOG_FILE)
RUN_DIRS = CREATED_DIRS
MARKER_FILES = (STATUS_FILE, CONFIG_FILE)  # a folder with either is a run directory
CREATING_PREFIX = ".creating-"  # a run directory being assembled, renamed into place when complete

# Inside eval/<eval_folder_name>/
EVAL_REPORT_FILE = "report.json"
EVAL_PREDICTIONS_FILE = "predictions.jsonl"
EVAL_ATTENTION_FILE = "attention.npz"
EVAL_FILES = (EVAL_REPORT_FILE, EVAL_PREDICTIONS_FILE, EVAL_ATTENTION_FILE)


def eval_folder_name(step: int, split: str) -> str:
    """`step-<N>-<split>`: one evaluation report's folder under eval/."""
    return f"step-{step}-{split}"


def export_folder_name(step: int, kind: str) -> str:
    """`step-<N>-<kind>`: one export format's folder under export/."""
    return f"step-{step}-{kind}"


# -- status.json ---------------------------------------------------------------------------------------
class State:
    """The values of status.json's `state`."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"


STATES = _values(State)
LIVE_STATES = (State.RUNNING, State.PAUSED)  # a process should be behind these
END_STATES = (State.COMPLETED, State.FAILED, State.ABORTED)


class Status:
    """The keys of status.json."""

    STATE = "state"
    PID = "pid"
    PID_STARTED = "pid_started"  # the pid's start time: tells a dead run from a reused pid
    HOST = "host"
    STEP = "step"
    TOTAL_STEPS = "total_steps"
    LOSS = "loss"
    BEST_EVAL_LOSS = "best_eval_loss"
    LAST_CHECKPOINT_STEP = "last_checkpoint_step"
    DATA = "data"  # dataset statistics
    ERROR = "error"
    CREATED = "created"
    STARTED = "started"
    UPDATED = "updated"
    RUN_SECONDS = "run_seconds"  # time spent running in stretches that ended (runs/run_time.py)
    RUNNING_SINCE = "running_since"  # when the current running stretch began; null when not running
    CONTROL_ACK = "control_ack"  # the id of the last control request taken
    CONTROL_ACTION = "control_action"
    CONTROL_ERROR = "control_error"  # why the last set_lr was refused
    LEARNING_RATE = "learning_rate"  # the peak in force
    STOPPED_EARLY = "stopped_early"
    HARDWARE = "hardware"
    LAUNCHER = "launcher"  # the job runner that queued the run (gemma_jax.jobs)
    LAUNCHER_PID = "launcher_pid"  # the process the job runner started
    QUEUED_TIME = "queued_time"  # when the job runner queued it: the queue's order


STATUS_KEYS = _values(Status)


# -- control.json ---------------------------------------------------------------------------------------
class Action:
    """The requests control.json carries."""

    PAUSE = "pause"
    RESUME = "resume"
    SAVE = "save"
    ABORT = "abort"
    SET_LR = "set_lr"


ACTIONS = _values(Action)
VALUE_ACTIONS = (Action.SET_LR,)  # actions that carry a `value`


class Control:
    """The keys of a request in control.json."""

    ACTION = "action"
    ID = "id"
    TIME = "time"
    VALUE = "value"


CONTROL_KEYS = _values(Control)


# -- metrics.jsonl --------------------------------------------------------------------------------------
EVAL_PREFIX = "eval_"  # an evaluation's figure: the training figure's name with this in front


class Metric:
    """The keys of a metrics.jsonl record."""

    STEP = "step"
    EPOCH = "epoch"
    LOSS = "loss"
    LR = "lr"  # the learning rate of this step (the schedule times the set_lr factor)
    GRAD_NORM = "grad_norm"
    LOSS_TOKENS = "loss_tokens"
    BATCH_CRC = "batch_crc"
    TOKENS = "tokens"
    TOKENS_PER_S = "tokens_per_s"
    STEP_TIME_S = "step_time_s"
    TFLOPS_PER_DEVICE = "tflops_per_device"
    MFU = "mfu"
    RSS_GB = "rss_gb"
    DEVICE_MEMORY_GB = "device_memory_gb"  # only where the backend reports memory (GPU, TPU)
    DEVICE_PEAK_MEMORY_GB = "device_peak_memory_gb"
    INCLUDES_COMPILE = "includes_compile"  # on step 1
    TIME = "time"  # epoch seconds, added by RunStore.append_metrics
    # DPO steps: per-pair means and the pair count
    PAIRS = "pairs"
    CHOSEN_REWARD = "chosen_reward"
    REJECTED_REWARD = "rejected_reward"
    REWARD_MARGIN = "reward_margin"
    REWARD_ACCURACY = "reward_accuracy"
    CHOSEN_LOGP = "chosen_logp"
    REJECTED_LOGP = "rejected_logp"
    # evaluation steps
    EVAL_LOSS = EVAL_PREFIX + LOSS
    EVAL_PERPLEXITY = EVAL_PREFIX + "perplexity"
    EVAL_PAIRS = EVAL_PREFIX + PAIRS


DPO_MEAN_METRICS = (
    Metric.CHOSEN_REWARD,
    Metric.REJECTED_REWARD,
    Metric.REWARD_MARGIN,
    Metric.REWARD_ACCURACY,
    Metric.CHOSEN_LOGP,
    Metric.REJECTED_LOGP,
)
EVAL_METRICS = (
    Metric.EVAL_LOSS,
    Metric.EVAL_PERPLEXITY,
    Metric.EVAL_PAIRS,
    *(EVAL_PREFIX + key for key in DPO_MEAN_METRICS),
)
TRAIN_METRICS = tuple(key for key in _values(Metric) if key not in EVAL_METRICS)


class Event:
    """Event records in metrics.jsonl: `{"event": KIND, "step": N, "time": T}`."""

    KEY = "event"
    RESUMED = "resumed"  # the run went on from the checkpoint at `step`


EVENT_KINDS = (Event.RESUMED,)
METRIC_KEYS = (*TRAIN_METRICS, *EVAL_METRICS, Event.KEY)  # every key a metrics.jsonl record may have


# -- samples.jsonl --------------------------------------------------------------------------------------
class Sample:
    """The keys of a samples.jsonl record."""

    STEP = "step"
    MODEL = "model"  # SAMPLE_MODELS
    PROMPT = "prompt"
    OUTPUT = "output"
    TIME = "time"


SAMPLE_KEYS = _values(Sample)
BASE_MODEL = "base"  # answered before step 1
TUNED_MODEL = "tuned"
SAMPLE_MODELS = (BASE_MODEL, TUNED_MODEL)
