"""``c2fbench list models`` on an 80-column terminal (issue 28): nothing wider, nothing cut
with "…", every model named, and the torchvision:NAME models that --model accepts."""

from __future__ import annotations

from cli_helpers import run


def test_list_models_fits_80_columns_and_names_the_torchvision_models():
    import torchvision.models.segmentation as segmentation

    from c2fbench.models import MODELS

    result = run("list", "models", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80 and not any("…" in line for line in lines), result.output
    names = {line.split("│")[0].strip() for line in lines if "│" in line} - {""}
    assert names == set(MODELS)
    text = " ".join(result.output.split())
    assert "--model torchvision:NAME --weights FILE" in text
    listed = text.split("(a state dict; --classes if not VOC's 21): ", 1)[1].split(", ")
    # the oracle: torchvision's own segmentation builders (each name a function there)
    assert listed and all(callable(getattr(segmentation, name, None)) for name in listed), listed
    assert {"deeplabv3_resnet101", "fcn_resnet50", "lraspp_mobilenet_v3_large"} <= set(listed)
