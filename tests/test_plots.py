"""``circuit2mlp plot``: each figure is written, has a sensible size and is not blank."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from compiled import SUPERPOSED, compiled
from inprocess import cli

pytest.importorskip("matplotlib", reason="the plot extra is not installed")



def check_png(path, min_side: int = 300) -> np.ndarray:
    """Open the PNG, check its size, and that it holds a real picture (many colours, not one
    flat field)."""
    import matplotlib.image as mpimg

    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert height >= min_side and width >= min_side
    rgb = image[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05
    assert len(np.unique((rgb * 255).astype(np.uint8), axis=0)) > 20
    white = np.all(rgb > 0.98, axis=1).mean()
    assert white < 0.97  # something is drawn
    return image


@pytest.fixture
def sweep_table(tmp_path):
    """A table in `circuit2mlp sweep`'s schema: two methods, two seeds, one failed job."""
    rows = []
    for method, scale in (("superposed", 1.0), ("paper", 2.0)):
        for width in (100, 200, 400, 800):
            for seed in (0, 1):
                rate = min(1.0, scale * 50 / width**1.5 * (1 + 0.2 * seed))
                rows.append(
                    {
                        "circuit": "uand.yaml",
                        "method": method,
                        "width": width,
                        "seed": seed,
                        "sparsity": 3,
                        "neurons": width,
                        "bit_error_rate": rate,
                        "sample_error_rate": min(1.0, 10 * rate),
                        "error": None,
                    }
                )
    rows.append({"circuit": "uand.yaml", "method": "paper", "width": 10, "error": "too small"})
    rows.append({"circuit": "uand.yaml", "method": "exact", "width": None, "neurons": 1000,
                 "bit_error_rate": 0.0, "sample_error_rate": 0.0, "error": ""})  # fmt: skip
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(rows))
    return path


def test_plot_sweep_png_and_svg(sweep_table, tmp_path):
    png, svg = tmp_path / "sweep.png", tmp_path / "sweep.svg"
    assert cli("plot", "sweep", sweep_table, "-o", png) == 0
    check_png(png)
    assert cli("plot", "sweep", sweep_table, "-o", svg) == 0
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert svg.stat().st_size > 10_000
    assert sum(1 for el in root.iter() if el.tag.endswith("path")) > 20


def test_plot_sweep_csv(tmp_path):
    table = tmp_path / "sweep.csv"
    table.write_text("method,width,bit_error_rate,sample_error_rate,error\n"
                     "superposed,100,0.01,0.1,\nsuperposed,200,0.001,0.02,\n")  # fmt: skip
    out = tmp_path / "sweep.png"
    assert cli("plot", "sweep", table, "-o", out) == 0
    check_png(out)


def test_plot_margins(tmp_path, capsys):
    _, _, weights = compiled("C432")
    out = tmp_path / "margins.png"
    assert cli("plot", "margins", weights, "-o", out, "--samples", 300) == 0
    assert "worst margin +0.5000" in capsys.readouterr().out  # exact: outputs are 0 or 1
    check_png(out)


def test_plot_interference(tmp_path, capsys):
    _, _, weights = compiled(SUPERPOSED)
    out = tmp_path / "interference.png"
    assert cli("plot", "interference", weights, "--layer", 1, "-o", out) == 0
    assert "64 features" in capsys.readouterr().out
    image = check_png(out)
    assert image.shape[0] > 400
    # a level of 31,125 features with no interference at all (exact method)
    _, _, weights = compiled("uand250")
    out = tmp_path / "interference.svg"
    assert cli("plot", "interference", weights, "--layer", 1, "-o", out) == 0
    assert "max off-diagonal |cos| 0" in capsys.readouterr().out


def test_plot_errors(tmp_path, sweep_table, capsys):
    _, _, weights = compiled("full_adder")
    assert cli("plot", "margins", weights, "-o", tmp_path / "m.gif") == 2
    assert ".png, .svg, .pdf" in capsys.readouterr().err
    assert cli("plot", "interference", weights, "--layer", 7, "-o", tmp_path / "i.png") == 2
    bad = tmp_path / "bad.json"
    bad.write_text('[{"width": 3}]')
    assert cli("plot", "sweep", bad, "-o", tmp_path / "s.png") == 2
    assert "bit_error_rate" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.gif"))
