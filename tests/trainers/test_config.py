"""TrainConfig's stages and config.json's flat options: the same keys, values and order as
config.json had before the stages had configs of their own (runs made then still resume)."""

import dataclasses
import json
import random

import pytest

from trainers.config import FLAT_KEYS, STAGES, MaskConfig, OptimConfig, TrainConfig, check_types, flat_types

# config.json of TrainConfig() as written before the stages (2026-12, commit 01a1296): the oracle,
# with the two options added since (2026-12-07, issue 24: loss_resolution, threads), which a
# config.json without them takes at these defaults.
DEFAULT_CONFIG_JSON = {
    "task": "semantic", "arch": "deeplab_v2_resnet101", "pretrained_backbone": False, "backbone_weights": None,
    "rounds": 5, "epochs": 2, "later_epochs": None, "later_lr": None, "batch_size": 12, "optimizer": "sgd", "lr": 0.00025, "momentum": 0.9,
    "weight_decay": 0.0005, "resize": 321, "crop": 256, "flip": True, "scale_min": 1.0, "scale_max": 1.0,
    "head_lr_mult": 10.0, "poly_power": 0.9, "loss_resolution": "input", "reinit": False, "loader_workers": 0,
    "threads": None, "amp": True, "channels_last": True, "cpu_channels_last": False,
    "seed": 0, "coarse_method": "saliency", "saliency": "spectral", "student_weights": None, "coarse_box": "tight",
    "enhance_initial": True, "initial_boxes": False, "enhanced_box": "tight", "grabcut_iterations": 5, "drop_outside": True,
    "min_foreground": 0.01, "max_foreground": 0.8, "keep_own_category": True, "refine_argmax": "all",
    "refine_predict_at": "image", "refine_crf": False, "refine_tta": False, "drop_keeps_previous": False,
    "refine_grabcut": True, "refine_init": "mask", "val_root": None, "val_benchmark": "voc-val",
}


def test_config_json_keeps_its_flat_keys_values_and_order():
    assert TrainConfig().to_json() == json.dumps(DEFAULT_CONFIG_JSON, indent=2) + "\n"


def test_every_setting_has_exactly_one_flat_key():
    leaves = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in STAGES]
    leaves += [f"{stage}.{f.name}" for stage, cls in STAGES.items() for f in dataclasses.fields(cls)]
    assert sorted(FLAT_KEYS.values()) == sorted(leaves)


def test_flat_options_land_in_their_stage_and_come_back():
    values = {"lr": 0.003, "epochs": 7, "coarse_box": "robust", "grabcut_iterations": 3, "refine_init": "rect",
              "refine_predict_at": "train", "drop_keeps_previous": True, "val_root": "/data"}
    cfg = TrainConfig.from_flat(values)
    assert cfg.optim == OptimConfig(lr=0.003) and cfg.epochs == 7 and cfg.masks == MaskConfig(coarse_box="robust")
    assert (cfg.refine.iterations, cfg.refine.init, cfg.predict.at) == (3, "rect", "train")
    assert cfg.drop_keeps_previous and cfg.val_root == "/data"
    assert cfg.to_flat() == {**DEFAULT_CONFIG_JSON, **values}
    assert cfg.updated(lr=0.5).optim.lr == 0.5 and cfg.updated(lr=0.5).refine == cfg.refine
    with pytest.raises(TypeError, match="learning_rate"):
        TrainConfig.from_flat({"learning_rate": 1})


def test_any_flat_config_round_trips():
    rng = random.Random()
    flip = {bool: lambda v: not v, int: lambda v: v + rng.randint(1, 9), float: lambda v: v + rng.random(),
            str: lambda v: v + "x", type(None): lambda v: "/somewhere"}
    unset = {"str | None": "/somewhere", "int | None": rng.randint(1, 9),  # a value for a None default
             "float | None": rng.uniform(1e-5, 1e-2)}
    types = flat_types()
    values = {k: unset[types[k]] if v is None else flip[type(v)](v) for k, v in DEFAULT_CONFIG_JSON.items()
              if rng.random() < 0.5}
    cfg = TrainConfig.from_flat(check_types(values, "test"))
    assert cfg.to_flat() == {**DEFAULT_CONFIG_JSON, **values}
    assert TrainConfig.from_flat(json.loads(cfg.to_json())) == cfg
