"""Render the explanation of one atom's barrier: its top edges as coloured bonds (OVITO, Tachyon).

    python ovito_modifier/examples/render_explanation.py STRUCTURE --model symgnn.pt --atom 1501 -o explanation.png

Needs a SymGNN checkpoint and, on headless machines, a Vulkan loader
(``apt-get install libvulkan1 mesa-vulkan-drivers``).  The centre atom is magenta and
twice the size; atoms outside the explanation are faded.
"""
from __future__ import annotations

import argparse

from ovito.io import import_file
from ovito.vis import TachyonRenderer, Viewport

from mgbarrier_ovito import ExplanationModifier


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("structure")
    ap.add_argument("--model", required=True, help="SymGNN checkpoint")
    ap.add_argument("--atom", type=int, required=True, help="0-based atom index")
    ap.add_argument("--top", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("-o", "--output", default="explanation.png")
    args = ap.parse_args(argv)
    pipeline = import_file(args.structure)
    pipeline.modifiers.append(ExplanationModifier(model_file=args.model, atom_index=args.atom, top=args.top,
                                                  epochs=args.epochs, fade_others=True, transparency=0.85,
                                                  bond_width=0.3))
    pipeline.add_to_scene()
    data = pipeline.compute()
    vp = Viewport(type=Viewport.Type.Perspective, camera_dir=(-1, -0.6, -0.5))
    vp.zoom_all()
    vp.render_image(filename=args.output, size=(640, 480), renderer=TachyonRenderer())
    print(f"wrote {args.output}: atom {args.atom}, barrier {data.attributes['Explanation.prediction']:.3f} eV, "
          f"top {data.attributes['Explanation.edges']} edges")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
