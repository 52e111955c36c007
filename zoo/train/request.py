"""What `zoo train` was asked to do, and how ``--resume`` takes the rest from the run itself.

A resumed run continues with the training arguments it started with: each one not given again
is read back from the run's ``config.json``; one given with another value is refused, naming
the option and both values. Three may differ, because they do not change what is computed:
``--time-limit`` (a budget for this invocation), ``--device`` (where it runs; CPU and CUDA
round differently, nothing else changes) and ``--out``. ``--epochs`` may differ too, to extend
(or end early) a run, provided it is not below the epochs already done.

``TrainRequest`` holds the recipe's options as fields of its own, derived from ``Recipe``'s
(``zoo.recipe``: declared there once, with their help text), each None until given.
"""

from dataclasses import dataclass, field, make_dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, get_type_hints

from zoo.registry import ModelSpec
from zoo.store import CONFIG, read_json
from zoo.recipe import OPTION_FIELDS, Recipe, check_recipe, option_name, options, with_options


@dataclass
class _Arguments:
    """What `zoo train` is asked besides the recipe's options."""

    model: str
    data: Optional[str] = None  # a data set name, or a path in the default data set's format
    overrides: Dict[str, Any] = field(default_factory=dict)  # --set, already typed
    device: str = "auto"
    out: Optional[Path] = None
    resume: bool = False
    overwrite: bool = False
    time_limit: Optional[float] = None  # seconds
    limit_batches: Optional[int] = None  # at most this many training steps per epoch
    embeddings: Optional[Path] = None
    freeze_embeddings: bool = False
    grad_norms: bool = False  # probe the gradient norms through time each epoch (zoo.train.gradnorms)


# The arguments above, then one field per recipe option (``epochs``, ``batch_size``, ...): None
# until given, when the model's recipe decides (on --resume, the run's own value).
TrainRequest = make_dataclass(
    "TrainRequest",
    [(f.name, Optional[get_type_hints(Recipe)[f.name]], field(default=None, metadata=f.metadata)) for f in options()],
    bases=(_Arguments,),
    namespace={"__doc__": "What `zoo train` was asked: its arguments and the recipe's options given.", "__module__": __name__},
)


# Arguments besides the recipe's that a resumed run takes from config.json ("training" section,
# under these names; "data_argument" holds --data).
_RESTORED = ("limit_batches", "embeddings", "freeze_embeddings", "grad_norms")


def out_dir(request: TrainRequest) -> Path:
    return Path(request.out or Path("runs") / request.model)


def recipe_of(spec: ModelSpec, request: TrainRequest) -> Recipe:
    """The model's recipe with every given option replacing its value, checked."""
    recipe = with_options(spec.recipe, **{name: getattr(request, name) for name in OPTION_FIELDS})
    check_recipe(recipe)
    if request.limit_batches is not None and request.limit_batches < 1:
        raise ValueError(f"--limit-batches {request.limit_batches}: use an integer >= 1")
    if request.time_limit is not None and not request.time_limit > 0:
        raise ValueError(f"--time-limit {request.time_limit}: use a positive duration such as 90s, 15m or 1.5h")
    if request.resume and request.overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it; pass one of them")
    return recipe


def stored_run(out: Path) -> Dict[str, Any]:
    """The config.json of the run ``--resume`` continues."""
    if not (out / CONFIG).is_file():
        raise ValueError(f"--resume: {out} holds no run to continue (no {CONFIG}); drop --resume to start one")
    return read_json(out / CONFIG)


def _is_given(value: Any) -> bool:
    return value is not None and value is not False  # not `in (None, False)`: 0 == False


def _given(request: TrainRequest) -> Dict[str, Any]:
    """The training arguments given on this call (not None, flags only when set)."""
    names = OPTION_FIELDS + ("data",) + _RESTORED
    given = {name: getattr(request, name) for name in names if _is_given(getattr(request, name))}
    if "embeddings" in given:
        given["embeddings"] = str(given["embeddings"])
    return given


def _stored(training: Dict[str, Any]) -> Dict[str, Any]:
    values = {name: training.get(name) for name in OPTION_FIELDS + _RESTORED}
    values["data"] = training.get("data_argument")
    # Runs written before the requested batch was stored apart record only the one used.
    values["batch_size"] = training.get("requested_batch_size", training.get("batch_size"))
    return values


def _same(given: Any, stored: Any) -> bool:
    if stored is None:
        return False
    if isinstance(given, float) or isinstance(stored, float):
        return float(given) == float(stored)
    return given == stored


def shown(value: Any, missing: str = "not set") -> str:
    """A value as the command line writes it: a tuple or JSON list as "512,256", None as ``missing``."""
    if value is None:
        return missing
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def resumed(request: TrainRequest, document: Dict[str, Any], processes: int) -> TrainRequest:
    """``request`` with every training argument it leaves out taken from the run; a given one
    that differs from the run's (``--epochs`` aside) is an error naming it and both values."""
    stored = _stored(document.get("training", {}))
    # --data naming the data set the run used by default is the same data.
    default_data = stored["data"] or document.get("data", {}).get("name")
    conflicts: List[str] = []
    for name, value in _given(request).items():
        expected = default_data if name == "data" else stored[name]
        if name != "epochs" and not _same(value, expected):
            conflicts.append(f"{option_name(name)} {value} (the run: {shown(expected)})")
    config = document.get("config", {})
    for key, value in request.overrides.items():
        if config.get(key) != (list(value) if isinstance(value, tuple) else value):
            conflicts.append(f"--set {key}={shown(value)} (the run: {shown(config.get(key))})")
    world = document.get("training", {}).get("world_size", 1)
    if processes != world:
        conflicts.append(f"--nproc {processes} (the run: {world})")
    if conflicts:
        raise ValueError(
            f"--resume: {out_dir(request)} was trained with other arguments: {', '.join(conflicts)}; "
            "leave them out to continue it as it was, or start a new run in another --out"
        )
    restored = {name: stored[name] for name in OPTION_FIELDS + _RESTORED + ("data",)
                if not _is_given(getattr(request, name)) and stored[name] is not None}  # fmt: skip
    if restored.get("embeddings") is not None:
        restored["embeddings"] = Path(restored["embeddings"])
    return replace(request, **restored)


def stored_processes(request: TrainRequest) -> Optional[int]:
    """On ``--resume``: how many processes the run trained with (None when it cannot be read)."""
    path = out_dir(request) / CONFIG
    if not request.resume or not path.is_file():
        return None
    try:
        return int(read_json(path).get("training", {}).get("world_size", 1))
    except (ValueError, OSError):
        return None
