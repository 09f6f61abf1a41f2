"""Render a structure coloured by predicted energy barrier (eV) to a PNG.

    python ovito_modifier/examples/render_barriers.py STRUCTURE [-o barriers.png] [--model M]

STRUCTURE: any file OVITO reads (extxyz, LAMMPS dump/data, POSCAR...); without it a small
generated Cu64Zr36-like glass is used.  --model: a checkpoint path or a shipped model name
(default: the shipped default model).  Headless rendering needs a Vulkan loader even for
the Tachyon renderer (Debian/Ubuntu: apt-get install libvulkan1 mesa-vulkan-drivers).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def _generated_glass(path: Path, n_cells: int = 5, a: float = 4.0, seed: int = 0) -> Path:
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(seed)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.array([[i, j, k] for i in range(n_cells) for j in range(n_cells) for k in range(n_cells)])
    frac = (grid[:, None, :] + basis[None, :, :]).reshape(-1, 3) / n_cells
    cell = np.eye(3) * a * n_cells
    pos = frac @ cell + rng.normal(scale=0.25, size=frac.shape)
    symbols = np.where(rng.random(len(pos)) < 0.64, "Cu", "Zr")
    atoms = Atoms(symbols=list(symbols), positions=pos, cell=cell, pbc=True)
    atoms.wrap()
    write(path, atoms)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("structure", nargs="?", help="input structure (default: a generated glass)")
    ap.add_argument("-o", "--output", default="barriers.png", help="PNG to write")
    ap.add_argument("--model", default="", help="model checkpoint or shipped model name (default: shipped default)")
    ap.add_argument("--size", default="800x600", help="image size WxH in pixels")
    ap.add_argument("--color-map", default="Viridis", help="colour map (Viridis, Rainbow, Jet, Hot, Magma, ...)")
    ap.add_argument("--renderer", choices=["tachyon", "opengl"], default="tachyon")
    args = ap.parse_args(argv)

    from ovito.io import import_file
    from ovito.vis import ColorLegendOverlay, OpenGLRenderer, TachyonRenderer, Viewport

    from mgbarrier_ovito import EnergyBarrierModifier

    structure = args.structure or str(_generated_glass(Path(tempfile.mkdtemp()) / "glass.extxyz"))
    pipeline = import_file(structure)
    modifier = EnergyBarrierModifier(model_file=args.model, color_map=args.color_map)
    pipeline.modifiers.append(modifier)
    try:
        data = pipeline.compute()
    except Exception as exc:  # OVITO wraps the modifier's error; show its message, not a traceback
        print(f"render_barriers: error: {exc}", file=sys.stderr)
        return 2
    print(data.attributes["EnergyBarrier.status"])
    pipeline.add_to_scene()

    # the legend shows the same gradient and range the modifier used for the particle colours
    legend_source = modifier.color_coding_modifier(data.attributes["EnergyBarrier.color_start"],
                                                   data.attributes["EnergyBarrier.color_end"])
    legend = ColorLegendOverlay(modifier=legend_source, title="Barrier (eV)", alignment=0x0002 | 0x0080,
                                orientation=0x2, legend_size=0.35, font_size=0.08, format_string="%.2f",
                                text_color=(0, 0, 0), offset_x=-0.02)
    vp = Viewport(type=Viewport.Type.Perspective, camera_dir=(-1, -0.6, -0.5))
    vp.overlays.append(legend)
    vp.zoom_all()
    w, h = (int(x) for x in args.size.lower().split("x"))
    renderer = TachyonRenderer() if args.renderer == "tachyon" else OpenGLRenderer()
    vp.render_image(size=(w, h), filename=args.output, background=(1, 1, 1), renderer=renderer)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
