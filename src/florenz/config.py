"""Typed run configuration: dataclass sections, TOML files, `--set section.key=value` overrides.

Each stage owns its section dataclass (``florenz/<stage>/config.py``); this module only composes
them and does the generic, type-checked loading. Errors name the key or path and fit on one line.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from florenz.data.config import LOADERS, DataConfig
from florenz.errors import ConfigError
from florenz.evaluate.config import EvalConfig
from florenz.models.config import ATTN_IMPLEMENTATIONS, ModelConfig
from florenz.sweep.config import SweepConfig
from florenz.train.config import COMPILE_BACKENDS, TrainConfig
from florenz.world.config import WorldConfig

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # package data: named configs ship in the wheel


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path to a TOML file, or a name: ./configs/NAME.toml if present (a local override), else the one shipped
    in the package (florenz/configs/NAME.toml)."""
    p = Path(name_or_path)
    candidates = [p] if p.suffix == ".toml" else [p, Path("configs") / f"{p}.toml", CONFIG_DIR / f"{p}.toml"]
    for c in candidates:
        if c.is_file():
            return c
    known = sorted(f.stem for f in CONFIG_DIR.glob("*.toml")) if CONFIG_DIR.is_dir() else []
    raise ConfigError(f"config file not found: {name_or_path} (named configs: {', '.join(known) or 'none'})")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults <- TOML file (may `extends = "other"`) <- `section.key=value` overrides."""
    cfg = Config()
    if path is not None:
        for data, source in _toml_chain(resolve_config_path(path)):
            _apply_mapping(cfg, data, prefix="", source=source)
    for ov in overrides or []:
        key, sep, raw = ov.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {ov!r} is not of the form section.key=value")
        set_value(cfg, key.strip(), _parse_literal(raw.strip()), source="--set")
    return validate(cfg)


def set_value(cfg: Any, dotted: str, value: Any, source: str = "") -> None:
    *parents, leaf = dotted.split(".")
    obj = cfg
    for i, part in enumerate(parents):
        obj = getattr(obj, part) if _has_field(obj, part) else _unknown(obj, ".".join(parents[: i + 1]), source)
        if not dataclasses.is_dataclass(obj):
            raise ConfigError(f"config key {'.'.join(parents[: i + 1])!r} is a value, not a section{_src(source)}")
    if not _has_field(obj, leaf):
        _unknown(obj, dotted, source)
    hint = typing.get_type_hints(type(obj))[leaf]
    if dataclasses.is_dataclass(hint):
        raise ConfigError(f"config key {dotted!r} is a section; set its keys ({dotted}.KEY=...){_src(source)}")
    setattr(obj, leaf, _coerce(value, hint, dotted, source))


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def to_toml(cfg: Any) -> str:
    """Serialise a (nested) config dataclass as TOML, sections as tables."""
    lines: list[str] = []

    def emit(obj: Any, prefix: str) -> None:
        scalars = {k: v for k, v in dataclasses.asdict(obj).items() if not dataclasses.is_dataclass(getattr(obj, k))}
        if prefix:
            lines.append(f"\n[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {_toml_value(v)}")
        for f in dataclasses.fields(obj):
            sub = getattr(obj, f.name)
            if dataclasses.is_dataclass(sub):
                emit(sub, f"{prefix}.{f.name}" if prefix else f.name)

    emit(cfg, "")
    return "\n".join(lines).lstrip("\n") + "\n"


def save_config(cfg: Any, path: str | Path) -> None:
    from florenz.io import atomic_write_bytes

    atomic_write_bytes(path, to_toml(cfg).encode())


def config_from_dict(data: dict, source: str = "dict") -> Config:
    cfg = Config()
    _apply_mapping(cfg, data, prefix="", source=source)
    return validate(cfg)


# The allowed range of every numeric key; every float anywhere must also be finite. Checked when a config
# is loaded, before any data or model is built. ("each": every item of a list / value of a mapping.)
RANGES: dict[str, str] = {
    "model.image_size": ">= 0",
    "data.max_source_tokens": "> 0", "data.max_target_tokens": "> 0", "data.class_weights": ">= 0 each",
    "data.max_skipped_share": "in [0, 1]", "data.workers": ">= 0", "data.shuffle_buffer": "> 0",
    "train.samples": "> 0", "train.batch_size": "> 0", "train.micro_batch_size": ">= 0", "train.lr": "> 0",
    "train.warmup_steps": ">= 0", "train.min_lr_ratio": "in [0, 1]", "train.weight_decay": ">= 0",
    "train.beta1": "in [0, 1)", "train.beta2": "in [0, 1)", "train.grad_clip": "> 0 or off", "train.seed": ">= 0",
    "train.threads": ">= 0", "train.log_every": ">= 0", "train.checkpoint_every": ">= 0",
    "train.keep_checkpoints": "> 0", "train.decoder_lm_samples": ">= 0", "train.decoder_lm_lr": "> 0",
    "train.decoder_lm_replay": ">= 0", "train.vision_pretrain_seed": ">= 0 or -1",
    "eval.beams": "> 0", "eval.max_new_tokens": "> 0", "eval.batch_size": "> 0", "eval.ce_samples_per_class": ">= 0",
    "eval.generation_samples": ">= 0", "eval.benchmark_samples": ">= 0",
    "sweep.samples": "> 0 each", "sweep.contrast_samples": "> 0 each", "sweep.decoder_languages": ">= 0 each",
    "sweep.contrast_decoder_languages": ">= 0 each", "sweep.seeds": ">= 0 each", "sweep.workers": "> 0",
    "sweep.threads_per_worker": ">= 0", "sweep.slurm_time_min": "> 0",
}
# String keys with a closed set of values, checked with the ranges.
CHOICES: dict[str, tuple[str, ...]] = {"model.attn_implementation": ATTN_IMPLEMENTATIONS, "data.loader": LOADERS,
                                       "train.compile": COMPILE_BACKENDS}
_TESTS = {"> 0": lambda v: v > 0, ">= 0": lambda v: v >= 0, "in [0, 1]": lambda v: 0 <= v <= 1,
          "in [0, 1)": lambda v: 0 <= v < 1, ">= 0 or -1": lambda v: v >= -1,
          "> 0 or off": lambda v: v == "off" or (not isinstance(v, str) and v > 0)}


def validate(cfg: Config) -> Config:
    """Range-check every numeric value (RANGES, finite floats); errors name `section.key`. The [world] section's
    rules are cross-field (languages) and live in `WorldConfig.validate`, run before a world is built."""
    for key, value in _leaves(dataclasses.asdict(cfg)):
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
        for v in items:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"config key {key!r} must be a finite number, got {v}")
        if key in CHOICES and value not in CHOICES[key]:
            raise ConfigError(f"config key {key!r} must be one of {', '.join(CHOICES[key])}, got {value!r}")
        rule = RANGES.get(key)
        if rule is None:
            continue
        test, each = _TESTS[rule.removesuffix(" each")], rule.endswith(" each")
        bad = [v for v in items if not test(v)] if each else ([] if test(value) else [value])
        if bad:
            shown = rule.removesuffix(" each")
            raise ConfigError(f"config key {key!r} must be {shown}{' (every value)' if each else ''}, got {bad[0]!r}")
    if problem := cfg.model.attention_problem():
        raise ConfigError(problem)
    return cfg


def _leaves(d: dict, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict) and k != "class_weights":
            out += _leaves(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


# -- internals -----------------------------------------------------------------------------------


def _toml_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[dict, str]]:
    if path.resolve() in seen:
        raise ConfigError(f"config {path}: circular 'extends'")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config {path}: invalid TOML ({e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    parent = data.pop("extends", None)
    if parent is None:
        return [(data, str(path))]
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"config {path}: 'extends' must be a config name or a path string, got {parent!r}")
    beside = path.parent / parent  # a relative path is read from this file's folder, not the current one
    target = beside if Path(parent).suffix == ".toml" and beside.is_file() else resolve_config_path(parent)
    return [*_toml_chain(target, (*seen, path.resolve())), (data, str(path))]


def _apply_mapping(obj: Any, data: dict, prefix: str, source: str) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if _has_field(obj, key) and dataclasses.is_dataclass(getattr(obj, key)):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {dotted!r} must be a section (table){_src(source)}")
            _apply_mapping(getattr(obj, key), value, f"{dotted}.", source)
        else:
            set_value(obj, key, value, source) if _has_field(obj, key) else _unknown(obj, dotted, source)


def _has_field(obj: Any, name: str) -> bool:
    return dataclasses.is_dataclass(obj) and name in {f.name for f in dataclasses.fields(obj)}


def _unknown(obj: Any, dotted: str, source: str) -> typing.NoReturn:
    known = ", ".join(f.name for f in dataclasses.fields(obj))
    raise ConfigError(f"unknown config key {dotted!r}{_src(source)} (known here: {known})")


def _src(source: str) -> str:
    return f" in {source}" if source else ""


def _parse_literal(raw: str) -> Any:
    """TOML literal if it parses (3e-4, true, [1, 2], "x"), else the raw string (paths, names)."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    bad = ConfigError(f"config key {key!r} expects {_type_name(hint)}, got {value!r}{_src(source)}")
    if origin in (typing.Union, types.UnionType):
        for a in args:
            if a is type(None) and value is None:
                return None
            try:
                return _coerce(value, a, key, source)
            except ConfigError:
                continue
        raise bad
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)  # allow 1e6 for sample budgets
        raise bad
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise bad
    if hint is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin in (list, tuple):
        if isinstance(value, str) and args and args[0] is str:
            value = [v for v in (s.strip() for s in value.split(",")) if v]  # en,de shorthand
        if not isinstance(value, list | tuple):
            raise bad
        return [_coerce(v, args[0], key, source) for v in value] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return {_coerce(k, args[0], key, source): _coerce(v, args[1], key, source) for k, v in value.items()}
    return value


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_value(str(k))} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if v is None:
        return '""'
    raise ConfigError(f"cannot write {v!r} to TOML")
