"""The training process of one run directory: prepare, loop, checkpoint, report.

Everything the outside world sees goes through the RunStore (status.json,
metrics.jsonl, log.txt, samples.jsonl, events/) and the checkpoint directory,
so a dashboard or CLI can follow, pause, save or stop the run from another
process, and a resumed run continues exactly where the last checkpoint was.
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback

import jax
import numpy as np
from tqdm import tqdm

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.cloud_storage import CloudStorageError, check_job_urls
from gemma_jax.command_line import cap_message
from gemma_jax.config import ConfigError, validate
from gemma_jax.data import Datasets
from gemma_jax.data.errors import DataError
from gemma_jax.data.stats_text import describe_data
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import ModelLoadError
from gemma_jax.models.memory_check import available_memory, bigger_batch_note, choose_remat
from gemma_jax.parallel.device_summary import device_summary
from gemma_jax.parallel.distributed import is_primary, primary_bytes
from gemma_jax.parallel.mesh import resolve_shape
from gemma_jax.runs.remote_copy import refresh_remote_copy
from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import BASE_MODEL, CONFIG_FILE, TUNED_MODEL, Action, Event, Metric, State
from gemma_jax.train.checkpoint_owner import CheckpointOwnerError, check_owner, checkpoint_meta
from gemma_jax.train.compile_cache import use_compilation_cache
from gemma_jax.train.control import STOP, ControlChannel
from gemma_jax.train.dpo_step import evaluate_pairs
from gemma_jax.train.early_stopping import EarlyStopping
from gemma_jax.train.held_out import mean_eval_loss
from gemma_jax.train.host_memory import host_memory_retained
from gemma_jax.train.optimizer import with_lr_scale
from gemma_jax.train.process_group import agreed_request, join_processes, peer_lost
from gemma_jax.train.run_inputs import build_run_data, load_training_model
from gemma_jax.train.samples import SampleWriter
from gemma_jax.train.setup import TrainingSetup, TrainState, build_training
from gemma_jax.train.state_restore import UnreadableCheckpoint, restore_latest_good
from gemma_jax.train.step_metrics import StepMeter, is_finite
from gemma_jax.train.step_report import PendingStep, PeriodicWork, RunEnded, host_schedule, step_record
from gemma_jax.train.webhook import notify_run_end

USER_ERRORS = (ConfigError, DataError, ModelLoadError, UnreadableCheckpoint, CloudStorageError, CheckpointOwnerError)


def checkpoint_directory(cfg, store: RunStore) -> str:
    """The run's checkpoints/, or the configured directory (a local path or a gs:// URL)."""
    directory = cfg.checkpoint.directory or str(store.checkpoints_dir)
    return directory if "://" in directory else os.path.abspath(directory)


class Trainer:
    """One run's training process. Every attribute exists from `__init__`: `prepare()` fills in the
    model, data, jitted steps and state (None until then), and a checkpoint restore moves the
    progress fields (`step`, `position`, `best_eval_loss`, `lr_scale`, early stopping) on."""

    def __init__(self, store: RunStore, *, progress: bool = True, abort_after_step: int | None = None):
        """`abort_after_step`: stop (saving a checkpoint, state "aborted") once that step is done, as an abort
        request would; what tests and notebooks use to interrupt a run at a known point."""
        self.store = store
        self.config = store.config()
        self.progress = progress
        self.abort_after_step = abort_after_step
        self.control = ControlChannel(store, on_set_lr=self.set_learning_rate, on_pause=self._report_before_pause)
        # Built by prepare().
        self.model: LoadedModel | None = None
        self.data: Datasets | None = None
        self.total_steps = 0
        self.setup: TrainingSetup | None = None  # None: not prepared yet (run() prepares)
        self.state: TrainState | None = None
        self.meter: StepMeter | None = None
        self.periodic: PeriodicWork | None = None
        self.checkpoints: CheckpointStore | None = None
        self.samples = SampleWriter(store, self.config)
        # Where training stands; a checkpoint restore sets these.
        self.step = 0
        self.position: dict | None = None  # the data position of the next batch not yet trained
        self.best_eval_loss: float | None = None
        self.last_eval: tuple[int, float] | None = None  # (step, eval loss)
        # The loop's report of dispatched steps (step_report.py); the writer and bar live while _loop runs.
        self._pending: PendingStep | None = None
        self._last_finished = 0.0  # perf_counter() when the last reported step was seen done
        self._writer = None
        self._bar: tqdm | None = None
        self.lr_scale = 1.0  # set_lr: the peak learning rate is lr_scale × optimizer.learning_rate
        eval_cfg = self.config.eval
        self.early_stopping = EarlyStopping(eval_cfg.early_stop_patience, eval_cfg.early_stop_min_delta)

    # -- preparation --------------------------------------------------------------------------
    def _join(self) -> None:
        """Join the other processes of a multi-host run (no-op alone); only process 0 writes the run dir."""
        self.store = self.control.store = join_processes(self.store)

    def prepare(self) -> None:
        """Check the config, load model and data, build the jitted steps and state, restore a checkpoint."""
        self._join()
        cfg = self.config
        devices = jax.device_count()
        self._check_config(devices)
        check_job_urls(cfg)
        cache = use_compilation_cache(cfg.train.compilation_cache)
        if cache is not None:
            self.store.log("compiled steps are kept on disk and reused (train.compilation_cache)")
        data_shards = int(np.prod(resolve_shape(cfg.mesh.data, cfg.mesh.fsdp, cfg.mesh.model, devices)[:2]))
        available, platform, _ = available_memory()  # before the model takes its share
        self.model = load_training_model(cfg, self.store)
        self._check_config(devices, model_context_length=self.model.context_length)
        self.data, self.total_steps = build_run_data(cfg, self.model, data_shards)
        self.store.log(f"data: {describe_data(self.data.stats)}")  # the full figures: status.json's "data"

        remat, why = choose_remat(cfg, available, platform=platform, devices=devices)
        remat = bool(primary_bytes(bytes([remat]))[0])  # every process compiles the primary's choice
        self.store.log(f"activation recomputation (model.remat) {'on' if remat else 'off'}: {why}")
        batch_note = bigger_batch_note(cfg, available, platform=platform, devices=devices)
        if batch_note is not None:
            self.store.log(batch_note)
        self.setup = build_training(cfg, self.model, self.total_steps, remat=remat)
        self.state = self.setup.initial_state()
        self.meter = StepMeter(self.setup.decoder, full=cfg.method.kind == "full", devices=self.setup.mesh.size)
        every_eval = cfg.eval.every_steps if self.data.validation is not None else 0
        self.periodic = PeriodicWork(
            self.total_steps, every_eval, cfg.eval.sample_every_steps, cfg.checkpoint.every_steps
        )
        self.store.log(
            f"device mesh {' x '.join(f'{axis} {size}' for axis, size in self.setup.mesh.shape.items())}; "
            f"{len(self.state.trainable)} trainable arrays, "
            f"{sum(int(np.prod(x.shape)) for x in self.state.trainable):,} trainable parameters; "
            f"peak {self.meter.peak_tflops:.3f} TFLOP/s per device ({self.meter.peak_source})"
        )
        directory = checkpoint_directory(cfg, self.store)
        self.checkpoints = CheckpointStore(directory, cfg.checkpoint)
        latest = self.checkpoints.latest_step()
        if latest is not None and cfg.checkpoint.directory:
            check_owner(self.checkpoints, latest, self.store)  # before anything there is read or replaced
        good = restore_latest_good(self.checkpoints, self.state, self.store.log) if latest is not None else None
        if good is not None:
            step, restored = good
            if step != latest:  # damaged newer steps were moved aside: let Orbax list the folder again
                self.checkpoints.close()
                self.checkpoints = CheckpointStore(directory, cfg.checkpoint)
            self._restore(step, restored)

    def _check_config(self, devices: int, model_context_length: int | None = None) -> None:
        """Fail before loading (and again once the model's context length is known) with every problem."""
        problems = validate(self.config, device_count=devices, model_context_length=model_context_length)
        if problems:
            raise ConfigError(problems, source=CONFIG_FILE)

    def _restore(self, step: int, restored: tuple) -> None:
        trainable, opt_state, frozen, position, meta = restored
        self.state.trainable, self.state.opt_state = trainable, opt_state
        if frozen is not None:
            self.state.frozen = frozen
        self.data.train.restore(position)
        self.step = step
        self.best_eval_loss = meta.get("best_eval_loss")
        self.lr_scale = float(opt_state.lr_scale)
        self.early_stopping.restore(meta.get("early_stopping"))
        self.store.log(f"resumed from checkpoint step {step} (data position {position})")
        self.store.append_metrics({Event.KEY: Event.RESUMED, Metric.STEP: step})

    def _meta(self) -> dict:
        return checkpoint_meta(
            self.config, self.store.run_id, self.step, self.best_eval_loss, self.learning_rate, self.early_stopping
        )

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> str:
        """Train to the end or until stopped; returns the final state written to status.json."""
        self._join()
        store = self.store
        store.update_status(state=State.RUNNING, pid=os.getpid(), host=socket.gethostname(), error=None)
        self.control.install_signal_handlers()
        if host_memory_retained():
            store.log(
                "CPU host: freed step buffers stay mapped between steps, which makes steps faster "
                "(set GEMMA_JAX_RETAIN_HOST_MEMORY=0 to give that memory back to the system)"
            )
        try:
            if self.setup is None:  # a caller may have prepared it (to evaluate the base model first)
                self.prepare()
            store.update_status(
                step=self.step,
                total_steps=self.total_steps,
                data=self.data.stats,
                learning_rate=self.learning_rate,
                hardware=device_summary(),
            )
            final = self._loop()
        except USER_ERRORS as error:
            final = self._fail(str(error))
        except Exception as error:  # noqa: BLE001  (any crash: traceback to the log, the gist to status)
            store.log(traceback.format_exc(), level="ERROR")
            final = self._fail(peer_lost(error) or f"{type(error).__name__}: {error}")
        finally:
            self.control.restore_signal_handlers()
            if self.checkpoints is not None:  # None: preparation failed before it
                self.checkpoints.wait()
                self.checkpoints.close()
        if self.config.train.webhook_url and jax.process_index() == 0:
            notify_run_end(self.config.train.webhook_url, store)
        return final

    @property
    def learning_rate(self) -> float:
        """The peak learning rate in force: the configured one, or the last set_lr value."""
        return self.config.optimizer.learning_rate * self.lr_scale

    def set_learning_rate(self, peak: float) -> None:
        """Change the peak learning rate from the next step on; the schedule keeps its shape.

        Only a scalar in the optimizer state changes, so the step does not recompile; the
        factor is checkpointed with the optimizer state, so a resumed run keeps it.
        """
        previous = self.learning_rate
        self.lr_scale = peak / self.config.optimizer.learning_rate
        self.state.opt_state = with_lr_scale(self.state.opt_state, self.lr_scale)
        self.store.log(f"learning rate set to {peak:g} (peak; was {previous:g}) from step {self.step + 1}")
        self.store.update_status(learning_rate=peak)

    def _fail(self, message: str) -> str:
        self.store.log(message, level="ERROR")
        self.store.update_status(state=State.FAILED, error=cap_message(message))  # the whole text is in log.txt
        return State.FAILED

    def _loop(self) -> str:
        cfg, setup, store = self.config, self.setup, self.store
        self._writer = store.scalar_writer()
        self._bar = tqdm(
            total=self.total_steps, initial=self.step, disable=not self.progress, unit="step", dynamic_ncols=True
        )
        if self.step == 0 and cfg.eval.sample_every_steps and not self.samples.has_base_answers():
            self.write_samples(model=BASE_MODEL)
        host_batch = self._next_batch()
        batch = setup.device_batch(host_batch)
        try:
            while self.step < self.total_steps and not self.early_stopping.stopped:
                request = Action.ABORT if self.step == self.abort_after_step else self.control.poll()
                action, lr_scale = agreed_request(request, self.lr_scale)
                if action is not None and (failed := self._report()):  # report the last step before acting
                    return failed
                if np.float32(lr_scale) != np.float32(self.lr_scale):  # set_lr reached the primary
                    self.set_learning_rate(lr_scale * cfg.optimizer.learning_rate)
                if action in (Action.ABORT, STOP):
                    return self._stop(action)
                if action == Action.SAVE:
                    self._save()
                if self._pending is not None:
                    self._pending.check_ready()
                dispatched = time.perf_counter()
                trainable, opt_state, metrics = setup.steps.train(
                    self.state.trainable, self.state.frozen, self.state.opt_state, batch
                )
                self.state.trainable, self.state.opt_state = trainable, opt_state
                self.step += 1
                learning_rate = host_schedule(setup.schedule, self.step - 1) * self.lr_scale
                step = PendingStep(
                    self.step, metrics, host_batch, self.data.train.epoch_fraction, learning_rate, dispatched
                )
                for dispatched_step in (self._pending, step):  # a step may have run inside its dispatch
                    if dispatched_step is not None:
                        dispatched_step.check_ready()
                if self.step < self.total_steps:  # build the next batch while the device works
                    host_batch = self._next_batch()
                    batch = setup.device_batch(host_batch)
                else:
                    self.position = self.data.train.state()
                # The previous step is reported now, while the device runs this one: no host sync
                # between steps. A step with periodic work (eval, samples, checkpoint) or the last one
                # is reported at once, as that work needs its weights before the next step replaces them.
                if failed := self._report():
                    return failed
                self._pending = step
                if self.periodic.any_due(self.step) and (failed := self._report()):
                    return failed
            if failed := self._report():  # nothing left by now: the last step is reported at once
                return failed
            self._save()
            if self.early_stopping.stopped:
                store.log(f"stopped early at step {self.step}: {self.early_stopping.describe()}")
            store.update_status(state=State.COMPLETED, step=self.step, stopped_early=self.early_stopping.stopped)
            store.log(f"completed {self.step} steps")
            self._copy_to_remote()
            return State.COMPLETED
        except RunEnded as ended:
            return ended.state
        finally:
            self._pending = None
            self._bar.close()
            self._writer.close()

    def _report(self) -> str | None:
        """Fetch the pending step's metrics and report them (metrics, status, periodic work, progress
        bar); the failed state when its loss is not finite, else None."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        loss = pending.wait()
        # The device ran this step from its dispatch or from the last step's end, whichever came later.
        step_time = pending.finished - max(pending.dispatched, self._last_finished)
        self._last_finished = pending.finished
        if not is_finite(loss) or not is_finite(float(pending.metrics[Metric.GRAD_NORM])):
            return self._diverged(loss, pending.step)
        record = step_record(pending, loss=loss, meter=self.meter, step_time=step_time)
        if pending.step == self.step:  # reported before the next step: its weights are the current ones
            self._periodic(record)
        train = self.config.train
        if pending.step % train.log_every_steps == 0 or pending.step == self.total_steps or Metric.EVAL_LOSS in record:
            self.store.append_metrics(record)
            self._writer.write(pending.step, record)
        self.store.update_status(durable=False, step=pending.step, loss=loss, best_eval_loss=self.best_eval_loss)
        self._bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{record[Metric.TOKENS_PER_S]:.0f}", refresh=False)
        self._bar.update(1)
        return None

    def _report_before_pause(self) -> None:
        """ControlChannel's hook before it waits out a pause: the last step shows while paused."""
        if failed := self._report():
            raise RunEnded(failed)

    def _next_batch(self) -> dict:
        """The next training batch; `position` stays where it starts, so a checkpoint taken
        before it is trained resumes with it."""
        self.position = self.data.train.state()
        return next(self.data.train)

    def _periodic(self, record: dict) -> None:
        last = self.step == self.total_steps
        if self.periodic.eval_due(self.step):
            if self.config.method.kind == "dpo":  # eval_loss is the mean DPO loss per held-out pair
                record.update(self.evaluate_preferences())
                eval_loss = record[Metric.EVAL_LOSS]
            else:
                eval_loss = self.evaluate()
                record[Metric.EVAL_LOSS] = eval_loss
                record[Metric.EVAL_PERPLEXITY] = math.exp(min(eval_loss, 50.0))
            self.last_eval = (self.step, eval_loss)
            if self.best_eval_loss is None or eval_loss < self.best_eval_loss:
                self.best_eval_loss = eval_loss
            last = self.early_stopping.update(eval_loss) or last
        if self.periodic.samples_due(self.step, last):
            self.write_samples()
        if self.periodic.checkpoint_due(self.step, last):
            self._save()

    def evaluate(self) -> float:
        """Mean loss per loss token over (up to max_batches of) the validation split."""
        batches = self.data.make_eval_iterator()
        return mean_eval_loss(self.setup, self.state, batches, self.config.eval.max_batches)

    def evaluate_preferences(self) -> dict:
        """DPO on held-out pairs: eval_loss, eval_reward_margin, eval_reward_accuracy, ... (per-pair means)."""
        return evaluate_pairs(
            self.setup.steps,
            self.state.trainable,
            self.state.frozen,
            self.data.make_eval_iterator(),
            self.setup.device_batch,
            self.config.eval.max_batches,
        )

    @property
    def generator(self):
        """The sample writer's Generator (None before the first samples)."""
        return self.samples.generator

    def sample_prompts(self) -> list[str]:
        return self.samples.prompts(self.data)

    def write_samples(self, model: str = TUNED_MODEL) -> None:
        """Greedy answers to the sample prompts; "base" (before step 1) or "tuned" in `model`."""
        self.setup.write_back(self.state.trainable)  # every process takes part (a gather over hosts)
        if is_primary():
            self.samples.write(self.model, self.data, self.step, model)

    def _save(self) -> None:
        if self.checkpoints.latest_step() == self.step:  # e.g. a stop right after a periodic save
            return
        eval_loss = self.last_eval[1] if self.last_eval and self.last_eval[0] == self.step else None
        self.checkpoints.save(self.step, self.state, self.position, self._meta(), eval_loss=eval_loss)
        self.store.log(f"checkpoint saved at step {self.step}")
        self.store.update_status(last_checkpoint_step=self.step)
        self._copy_to_remote()

    def _copy_to_remote(self) -> None:
        if is_primary():
            refresh_remote_copy(self.store, self.config.checkpoint.directory)

    def _stop(self, action: str) -> str:
        reason = "stop requested" if action == Action.ABORT else f"received {self.control.signal_name}"
        self._save()
        self.checkpoints.wait()
        message = (
            f"stopped at step {self.step} ({reason}); checkpoint saved. "
            f"Continue with: gemma-jax train --resume {self.store.path}"
        )
        self.store.log(message)
        self.store.update_status(state=State.ABORTED, step=self.step, error=message)
        self._copy_to_remote()
        return State.ABORTED

    def _diverged(self, loss: float, bad_step: int) -> str:
        """The step left weights untouched (see train_step), so the run stands at the step before."""
        self.step = bad_step - 1
        self.store.update_status(step=self.step)
        last = self.checkpoints.latest_step()
        kept = f"the last good checkpoint (step {last}) is kept" if last is not None else "no checkpoint was saved yet"
        return self._fail(
            f"training diverged: the loss became {loss} at step {bad_step}; {kept}. "
            "Lower optimizer.learning_rate, turn on clipping (optimizer.max_grad_norm) or add warmup "
            "(schedule.warmup_steps), then resume or start again."
        )


def train_run(run_dir: str, *, progress: bool = True) -> str:
    """Run (or resume) the job in `run_dir`; returns its final state."""
    return Trainer(RunStore.open(run_dir), progress=progress).run()
