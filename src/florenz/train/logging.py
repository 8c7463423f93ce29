"""What a run tells the user: a rich progress bar (stderr), `log.jsonl` and TensorBoard (`tb/`).

Only rank 0 logs; other ranks get a logger whose methods do nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from florenz.clitools import console, progress_enabled
from florenz.io import append_jsonl


class RunLogger:
    def __init__(self, run_dir: str | Path, enabled: bool = True, progress: bool = True,
                 tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / "log.jsonl"
        self._tb = None
        self._progress: Progress | None = None
        self._task = None
        if not enabled:
            return
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(run_dir) / "tb"))
            except ImportError:  # tensorboard is optional at run time; the JSONL log is the record
                self._tb = None
        if progress and progress_enabled():  # off inside a sweep, whose bar owns the terminal
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[sps]} samples/s"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
            )
            self._progress.start()

    def truncate_after(self, step: int) -> None:
        """On resume: drop log rows past the checkpoint so the log reads as one uninterrupted run."""
        if not self.enabled or not self.path.is_file():
            return
        keep = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:  # a row cut off by the kill
                continue
        self.path.write_text("".join(k + "\n" for k in keep), encoding="utf-8")

    def start_stage(self, name: str, total_steps: int, done_steps: int = 0) -> None:
        if self._progress is not None:
            if self._task is not None:
                self._progress.stop_task(self._task)
            self._task = self._progress.add_task(name, total=total_steps, completed=done_steps, loss="-", sps="-")

    def advance(self, loss: float | None = None, samples_per_s: float | None = None) -> None:
        if self._progress is not None and self._task is not None:
            fields: dict[str, Any] = {}
            if loss is not None:
                fields["loss"] = f"{loss:.4f}"
            if samples_per_s is not None:
                fields["sps"] = f"{samples_per_s:.0f}"
            self._progress.update(self._task, advance=1, **fields)

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        append_jsonl(self.path, row)
        if self._tb is not None:
            prefix = row.get("stage", "train")
            for k, v in row.items():
                if isinstance(v, int | float) and k not in ("step", "stage_step"):
                    self._tb.add_scalar(f"{prefix}/{k}", v, row["step"])

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
