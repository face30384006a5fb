"""A state dict and the network it belongs to, named on the command line:
``--model FILE.pth --arch torchvision:NAME`` or ``--arch MODULE:FUNCTION``.

``--arch torchvision:NAME`` is :mod:`deploy.torchvision_models` (the same as ``--model
torchvision:NAME --weights FILE``). ``--arch mypkg.nets:build_model`` (a module importable from
the current folder or ``PYTHONPATH``) or ``--arch path/to/nets.py:build_model`` names a
function or class of the user's own code that builds the network; ``--arch-kwargs JSON``
(an object) gives its keyword arguments. That code is imported and run: it is the user's,
named on the command line, and nothing else is ever imported. The weights file is read
first, with ``torch.load(weights_only=True)`` (:mod:`deploy.state_dicts`), so a file holding
a pickled object is refused before any code, theirs or the file's, has run.

Then, in order, each refused with one line naming ``--arch`` or the file: the module is
imported, the constructor called, the state dict checked against the network's (missing,
unexpected and misshapen keys counted) and loaded, and the network run once on a zero image
(1, 3, 64, 64) in eval mode to see what it returns. Its logits may be a tensor (B, C, H, W), a
dict holding one under ``"out"`` (torchvision's segmentation models), or a tuple or list
whose first element is one (a main head beside auxiliary ones); logits smaller than the
input (a stride-4 or stride-8 head) are upsampled bilinearly to the input's size, as
c2fbench's own models do. The output used, where the weights were found in the file, and
any upsampling are said once on stderr.

Such a network carries no class names or normalisation: ``--classes`` and ``--mean/--std``
(or ``--no-normalize``) are required (:mod:`deploy.foreign`), and its channel count must
match the classes.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from c2fbench.errors import InputError
from deploy.foreign import MetadataOverride, class_names

TORCHVISION = "torchvision:"
PROBE_SHAPE = (1, 3, 64, 64)  # the zero image the network runs on once, to see its output
OUTPUT_KEY = "out"  # a dict output's logits, as torchvision's segmentation models name them
SYNTAX = "expected torchvision:NAME, module.path:function or path/to/file.py:function"
USER_FLAGS = ("give --classes voc|coco|mit and --mean R,G,B --std R,G,B (0-1 scale) or --no-normalize: a network "
              "from your code carries no class names or normalisation")


@dataclass(frozen=True)
class Arch:
    """What ``--arch`` names: ``torchvision`` (NAME), or ``function`` in ``module`` (dotted
    name) or in ``file`` (a .py file), called with ``kwargs`` (``--arch-kwargs``)."""

    text: str
    torchvision: str | None = None
    module: str | None = None
    file: Path | None = None
    function: str | None = None
    kwargs: dict = field(default_factory=dict)

    @property
    def option(self) -> str:
        return f"--arch {self.text}"


def parse_arch(text: str | None, kwargs_json: str | None = None) -> Arch | None:
    """The :class:`Arch` of ``--arch TEXT`` and ``--arch-kwargs JSON`` (None without
    ``--arch``); InputError naming the option for bad syntax. Nothing is imported here."""
    if text is None:
        if kwargs_json is not None:
            raise InputError("--arch-kwargs goes with --arch module.path:function")
        return None
    if text.startswith(TORCHVISION):
        from deploy.torchvision_models import NAMES

        name = text[len(TORCHVISION):]
        if name not in NAMES:
            raise InputError(f"--arch {text}: unknown torchvision segmentation model; known: {', '.join(NAMES)}")
        if kwargs_json is not None:
            raise InputError(f"--arch-kwargs is for --arch module.path:function; torchvision:{name} takes its "
                             f"number of classes from --classes")
        return Arch(text=text, torchvision=name)
    where, colon, function = text.rpartition(":")
    if not colon or not where or not function.isidentifier():
        raise InputError(f"--arch {text!r}: {SYNTAX} (the function or class that builds the network)")
    kwargs = _parse_kwargs(kwargs_json)
    if where.endswith(".py"):
        return Arch(text=text, file=Path(where), function=function, kwargs=kwargs)
    if not all(part.isidentifier() for part in where.split(".")):
        raise InputError(f"--arch {text!r}: {where!r} is neither a module name nor a .py file; {SYNTAX}")
    return Arch(text=text, module=where, function=function, kwargs=kwargs)


def _parse_kwargs(text: str | None) -> dict:
    from c2fbench.jsonfile import parse_json

    if text is None:
        return {}
    value = parse_json(text, "--arch-kwargs")
    if not isinstance(value, dict):
        raise InputError(f"--arch-kwargs {text}: expected a JSON object of keyword arguments, e.g. "
                         "'{\"num_classes\": 21}'")
    return value


def model_and_arch(model: Path, *, weights: Path | None, arch: Arch | None) -> tuple[Path, Arch]:
    """(weights file, network) of ``--model``, ``--weights`` and ``--arch``: ``torchvision:NAME
    --weights FILE`` is ``FILE --arch torchvision:NAME``. InputError for a mix that names two
    networks or two weight files."""
    if str(model).startswith(TORCHVISION):
        if arch is not None:
            raise InputError(f"--arch names the network of a weights file given as --model FILE; --model {model} "
                             f"names its own (with --weights FILE)")
        from deploy.torchvision_models import NAMES

        name = str(model)[len(TORCHVISION):]
        if name not in NAMES:
            raise InputError(f"--model {model}: unknown torchvision segmentation model; known: {', '.join(NAMES)}")
        if weights is None:
            raise InputError(f"--model {model} needs --weights FILE (a state dict; nothing is downloaded)")
        return Path(weights), Arch(text=str(model), torchvision=name)
    if weights is not None:
        raise InputError(f"--weights is for --model torchvision:NAME; with --arch, --model {model} is the weights file")
    if Path(model).suffix.lower() in (".onnx", ".engine", ".plan"):
        raise InputError(f"{model}: --arch is for a state dict (.pth, .pt); a {Path(model).suffix} file holds its "
                         f"own network")
    return Path(model), arch


def load_network(weights: Path, arch: Arch, *, override: MetadataOverride | None = None):
    """(network, meta) of ``weights`` and ``arch``: the module in eval mode, its forward
    giving logits (B, C, H, W) at the input's size, and ``classes``, ``normalization``,
    ``arch``, ``kwargs``, ``weights_from`` and ``output`` (what of the network's output is
    used, in words)."""
    if arch.torchvision is not None:
        from deploy.torchvision_models import load_torchvision_model

        net, meta = load_torchvision_model(arch.torchvision, weights, override=override)
        return net.eval(), {**meta, "output": f"its {OUTPUT_KEY!r} entry"}
    if override is None or override.classes is None or override.normalization is None:
        raise InputError(f"{arch.option}: {USER_FLAGS}")
    from deploy.state_dicts import check_state_fits, read_state_dict

    state, where = read_state_dict(weights)  # before any of the user's code runs
    net = _construct(arch)
    check_state_fits(net.state_dict(), state, path=weights, what=f"the network of {arch.option}")
    try:
        net.load_state_dict(state)
    except Exception as e:  # a module's own _load_from_state_dict refusing
        raise InputError(f"{weights}: {arch.option} refused the weights ({_first_line(e)})") from None
    net, output, channels = _with_logits(net.eval(), arch)
    classes = class_names(override.classes, channels=channels)
    if len(classes) != channels:
        raise InputError(f"{arch.option}: the network gives {channels} output channels but --classes "
                         f"{override.classes} names {len(classes)}")
    return net, {"classes": classes, "normalization": dict(override.normalization), "arch": arch.text,
                 "kwargs": dict(arch.kwargs), "weights_from": where, "output": output}


def load_arch_runtime(weights: Path, arch: Arch, *, device: str = "cpu", threads: int | None = None,
                      override: MetadataOverride | None = None, amp: bool = False, channels_last: bool = False):
    """``--model FILE --arch ...`` as a :class:`c2fbench.inference.ModuleRuntime` (options as
    there); says on stderr, once, where the weights were and which output is used."""
    from c2fbench.console import info
    from c2fbench.files import file_sha256
    from c2fbench.inference import ModuleRuntime

    if arch.torchvision is not None:
        from deploy.torchvision_models import load_torchvision_runtime

        return load_torchvision_runtime(arch.torchvision, weights, device=device, threads=threads, override=override,
                                        amp=amp, channels_last=channels_last)
    net, meta = load_network(weights, arch, override=override)
    info(f"{arch.option}: weights from {meta['weights_from']}; output: {meta['output']}")
    source = {"model": arch.text, "weights": str(Path(weights).resolve()), "sha256": file_sha256(weights)}
    if arch.kwargs:
        source["arch_kwargs"] = dict(arch.kwargs)
    return ModuleRuntime(net, classes=meta["classes"], normalization=meta["normalization"], device=device,
                         threads=threads, amp=amp, channels_last=channels_last, source=source)


def _construct(arch: Arch):
    """``function(**kwargs)`` of the user's module: an ``nn.Module``, or InputError."""
    import torch

    module = _import(arch)
    builder = getattr(module, arch.function, None)
    if builder is None:
        raise InputError(f"{arch.option}: {_module_name(arch)} has no {arch.function!r}")
    if not callable(builder):
        raise InputError(f"{arch.option}: {arch.function!r} is a {type(builder).__name__}, not a function or class "
                         f"that builds the network")
    call = f"{arch.function}(**{arch.kwargs})" if arch.kwargs else f"{arch.function}()"
    try:
        net = builder(**arch.kwargs)
    except Exception as e:
        raise InputError(f"{arch.option}: {call} raised {type(e).__name__}: {_first_line(e)}") from None
    if not isinstance(net, torch.nn.Module):
        raise InputError(f"{arch.option}: {call} returned a {type(net).__name__}; expected a torch.nn.Module")
    return net


def _import(arch: Arch):
    """The module ``arch`` names, imported: a dotted name from the current folder or
    ``PYTHONPATH``, or a .py file (its folder searched first for its own imports)."""
    try:
        if arch.file is not None:
            if not arch.file.is_file():
                raise InputError(f"{arch.option}: {arch.file} not found (expected a Python file)")
            name = "c2fbench_arch_" + (arch.file.stem if arch.file.stem.isidentifier() else "file")
            spec = importlib.util.spec_from_file_location(name, arch.file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look their module up here
            try:
                with _searched(arch.file.resolve().parent):
                    spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            return module
        with _searched(Path.cwd()):
            return importlib.import_module(arch.module)
    except InputError:
        raise
    except ModuleNotFoundError as e:
        if arch.module is not None and e.name is not None and (arch.module + ".").startswith(e.name + "."):
            raise InputError(f"{arch.option}: no module named {e.name!r} in the current folder ({Path.cwd()}) or "
                             f"on PYTHONPATH") from None
        raise InputError(f"{arch.option}: importing {_module_name(arch)} raised {type(e).__name__}: "
                         f"{_first_line(e)}") from None
    except (Exception, SystemExit) as e:  # a syntax error, a missing dependency, an error at import time
        raise InputError(f"{arch.option}: importing {_module_name(arch)} raised {type(e).__name__}: "
                         f"{_first_line(e)}") from None


@contextmanager
def _searched(folder: Path):
    """``folder`` first on ``sys.path`` while the user's module is imported (a console script,
    unlike ``python -m``, does not search the current folder)."""
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def _module_name(arch: Arch) -> str:
    return str(arch.file) if arch.file is not None else f"module {arch.module}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else "(no message)"


def _with_logits(net, arch: Arch):
    """(:func:`logits_module` around ``net``, what of its output is used (words), channels), from one
    run on a zero image of :data:`PROBE_SHAPE`; InputError for an output that holds no logits."""
    import torch

    x = torch.zeros(PROBE_SHAPE)
    try:
        with torch.inference_mode():
            y = net(x)
    except Exception as e:
        shape = "x".join(map(str, PROBE_SHAPE))
        raise InputError(f"{arch.option}: the network failed on a {shape} zero image: {type(e).__name__}: "
                         f"{_first_line(e)}") from None
    key, output = _pick(y, arch)
    logits = y if key is None else y[key]
    if not isinstance(logits, torch.Tensor) or logits.ndim != 4 or logits.shape[0] != 1 \
            or not logits.is_floating_point():
        got = f"a tensor of shape {tuple(logits.shape)}, {logits.dtype}" if isinstance(logits, torch.Tensor) \
            else f"a {type(logits).__name__}"
        raise InputError(f"{arch.option}: {output} is {got}; expected float logits (B, C, H, W)")
    channels, in_hw, out_hw = int(logits.shape[1]), tuple(PROBE_SHAPE[2:]), tuple(logits.shape[2:])
    resize = out_hw != in_hw
    output += f", {channels} channels"
    if resize:
        output += (f", {out_hw[0]}x{out_hw[1]} for a {in_hw[0]}x{in_hw[1]} input: upsampled bilinearly to the "
                   f"input's size")
    return logits_module(net, key=key, resize=resize), output, channels


def _pick(y, arch: Arch) -> tuple[str | int | None, str]:
    """Which part of the output ``y`` holds the logits: (None, "the tensor it returns"),
    (:data:`OUTPUT_KEY`, ...) for a dict, (0, ...) for a tuple or list."""
    import torch

    if isinstance(y, torch.Tensor):
        return None, "the tensor it returns"
    if isinstance(y, dict):
        if OUTPUT_KEY not in y:
            keys = ", ".join(repr(k) for k in list(y)[:6])
            raise InputError(f"{arch.option}: the network returns a dict without {OUTPUT_KEY!r} (keys {keys}); "
                             f"expected the logits under {OUTPUT_KEY!r}, a tensor, or a tuple starting with them")
        return OUTPUT_KEY, f"the {OUTPUT_KEY!r} entry of the dict it returns"
    if isinstance(y, (tuple, list)) and y:
        return 0, f"the first of the {len(y)} elements of the {type(y).__name__} it returns"
    raise InputError(f"{arch.option}: the network returns a {type(y).__name__}; expected logits (B, C, H, W) as a "
                     f"tensor, a dict holding them under {OUTPUT_KEY!r}, or a tuple starting with them")


@functools.cache
def _logits_class():
    """The class of :func:`logits_module`, made once, on first use (this module imports without torch)."""
    import torch

    class _Logits(torch.nn.Module):
        def __init__(self, net, *, key, resize: bool) -> None:
            super().__init__()
            self.net, self.key, self.resize = net, key, resize

        def forward(self, x):
            y = self.net(x)
            if self.key is not None:
                y = y[self.key]
            if self.resize:
                y = torch.nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
            return y
    return _Logits


def logits_module(net, *, key, resize: bool):
    """``net`` with its output reduced to logits (B, C, H, W) at the input's size: ``y[key]``
    (None: ``y`` itself), upsampled bilinearly when ``resize``."""
    return _logits_class()(net, key=key, resize=resize)
