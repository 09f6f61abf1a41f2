"""The ``EnergyBarrierModifier`` OVITO modifier (per-atom energy barriers, eV)."""
from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from typing import Any, Optional, Tuple

import numpy as np
from ovito.data import DataCollection, DataTable
from ovito.modifiers import ColorCodingModifier
from ovito.pipeline import ModifierInterface
from traits.api import Bool, Enum, Float, Int, Range, Str

from mgbarrier.errors import MgBarrierError, MgBarrierWarning

from .convert import atoms_from_data

#: colour maps offered in the GUI -> OVITO gradient classes
GRADIENTS = {
    "Viridis": ColorCodingModifier.Viridis,
    "Rainbow": ColorCodingModifier.Rainbow,
    "Jet": ColorCodingModifier.Jet,
    "Hot": ColorCodingModifier.Hot,
    "Magma": ColorCodingModifier.Magma,
    "Blue-White-Red": ColorCodingModifier.BlueWhiteRed,
    "Grayscale": ColorCodingModifier.Grayscale,
}

#: loaded models, keyed by (model key, file identity); bounded LRU.  The file identity
#: (resolved path, size, mtime) makes a checkpoint retrained at the same path load again.
_MODELS: "OrderedDict[tuple, Any]" = OrderedDict()
_MAX_MODELS = 4
#: predictions, keyed by (model key, frame, structure hash); bounded LRU
_PREDICTIONS: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_MAX_PREDICTIONS = 64


def _file_identity(path: str) -> tuple:
    """(resolved path, size, mtime_ns) of a model file; a shipped name or the default as it is."""
    from mgbarrier.models.registry import resolve_model_path

    try:
        p = resolve_model_path(path or None)
        st = p.stat()
        return (str(p.resolve()), st.st_size, st.st_mtime_ns)
    except (OSError, MgBarrierError):
        return (path,)  # load_model below says what is wrong


def _load_model(key):
    import mgbarrier

    path, device, n_transforms = key
    full = (key, _file_identity(path))
    if full in _MODELS:
        _MODELS.move_to_end(full)
        return _MODELS[full]
    model = mgbarrier.load_model(path or None, device=device, n_transforms=n_transforms)
    _MODELS[full] = model
    while len(_MODELS) > _MAX_MODELS:
        _MODELS.popitem(last=False)
    return model


def _structure_hash(atoms) -> str:
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(atoms.positions, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(atoms.cell.array, dtype=np.float64).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    h.update(" ".join(atoms.get_chemical_symbols()).encode())
    return h.hexdigest()


class EnergyBarrierModifier(ModifierInterface):
    """Predicts the activation energy barrier (eV) of every atom with an mgbarrier model.

    Output: float particle property ``Energy Barrier`` (eV; name configurable), optional
    ``Color`` from a colour map, global attributes ``EnergyBarrier.min/mean/max`` (eV) and
    ``EnergyBarrier.mean.<element>``, and a histogram table ``energy-barrier-histogram``.

    ``species`` (``1=Cu,2=Zr``) names LAMMPS types that carry neither an element name nor a
    mass.  MD frames: give a potential (``quench_pair_style`` + ``quench_pair_coeff``, or
    ``quench_potential_file``) and every frame is quenched (a copy; fixed cell, to
    ``quench_fmax`` eV/Å) before the prediction; without one, a frame that looks like an MD
    snapshot gets the ``EnergyBarrier.warning`` attribute.
    """

    model_file = Str("", label="Model file (empty: shipped default)")
    n_transforms = Int(0, label="Rotations averaged (0: model default)")
    device = Enum("cpu", "cuda", label="Device")
    output_property = Str("Energy Barrier", label="Output property")
    color_coding = Bool(True, label="Colour particles by barrier")
    color_map = Enum(*GRADIENTS.keys(), label="Colour map")
    auto_range = Bool(True, label="Automatic colour range")
    start_value = Float(0.0, label="Range start (eV)")
    end_value = Float(3.0, label="Range end (eV)")
    only_selected = Bool(False, label="Only selected particles (colour and statistics)")
    histogram_bins = Range(2, 1000, 40, label="Histogram bins")
    species = Str("", label="Species by type (e.g. 1=Cu,2=Zr; empty: type names or masses)")
    quench_pair_style = Str("", label="Quench: LAMMPS pair_style (e.g. eam/fs; empty: no quench)")
    quench_pair_coeff = Str("", label="Quench: pair_coeff (e.g. * * CuZr_mm.eam.fs Cu Zr)")
    quench_potential_file = Str("", label="Quench: file of LAMMPS pair commands (instead of the two above)")
    quench_fmax = Float(1e-3, label="Quench: force tolerance (eV/Å)")

    # ---------------------------------------------------------------- helpers
    def model_key(self) -> Tuple[str, str, Optional[int]]:
        return (self.model_file.strip(), self.device, int(self.n_transforms) or None)

    def potential(self):
        """The quench :class:`mgbarrier.md.Potential` these settings name, or None."""
        from mgbarrier.md import Potential

        style, coeff, path = (self.quench_pair_style.strip(), self.quench_pair_coeff.strip(),
                              self.quench_potential_file.strip())
        if path:
            return Potential.from_file(path)
        if style or coeff:
            if not (style and coeff):
                raise MgBarrierError("quench: give both a pair_style and a pair_coeff (or a potential file)")
            return Potential.from_options(style, [c for c in coeff.split(";") if c.strip()])
        return None

    def quench_key(self) -> tuple:
        return (self.quench_pair_style.strip(), self.quench_pair_coeff.strip(), self.quench_potential_file.strip(),
                float(self.quench_fmax))

    def model(self):
        """The loaded model (cached across modifier instances)."""
        return _load_model(self.model_key())

    def predict(self, atoms, frame: int) -> np.ndarray:
        """(N,) barriers in eV for ``atoms``; cached per (model, frame, structure)."""
        return self._predict(atoms, frame)[0]

    def _predict(self, atoms, frame: int) -> Tuple[np.ndarray, Tuple[str, ...]]:
        """Barriers and the model's warnings (e.g. a structure unlike the training glasses)."""
        from mgbarrier.md import quench, thermal_warning

        key = (self.model_key(), self.quench_key(), int(frame), _structure_hash(atoms))
        if key in _PREDICTIONS:
            _PREDICTIONS.move_to_end(key)
            return _PREDICTIONS[key]
        potential = self.potential()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MgBarrierWarning)
            if potential is not None:
                target = quench(atoms, potential, fmax=float(self.quench_fmax)).atoms
            else:
                target = atoms
                text = thermal_warning(atoms, atoms.info.get("source", "") or f"frame {frame}")
                if text is not None:
                    warnings.warn(MgBarrierWarning(text.replace("quench the frames first: ", "give the modifier a "
                                                                "quench potential (quench_pair_style/quench_pair_"
                                                                "coeff); CLI: ")))
            values = np.asarray(self.model().predict(target), dtype=np.float64)
        notes = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, MgBarrierWarning)))
        _PREDICTIONS[key] = (values, notes)
        while len(_PREDICTIONS) > _MAX_PREDICTIONS:
            _PREDICTIONS.popitem(last=False)
        return values, notes

    def color_coding_modifier(self, start: Optional[float] = None, end: Optional[float] = None) -> ColorCodingModifier:
        """A ColorCodingModifier with this modifier's gradient and range (e.g. for a ColorLegendOverlay)."""
        start = self.start_value if start is None else start
        end = self.end_value if end is None else end
        return ColorCodingModifier(property=self.output_property, gradient=GRADIENTS[self.color_map](),
                                   auto_adjust_range=False, start_value=float(start), end_value=float(end),
                                   only_selected=self.only_selected)

    # ---------------------------------------------------------------- pipeline
    def modify(self, data: DataCollection, *, frame: int = 0, **kwargs):
        yield "Energy Barrier: converting particles"
        name = self.output_property.strip() or "Energy Barrier"
        try:
            if "." in name:
                raise MgBarrierError(f"output property {name!r}: OVITO names may not hold '.' (it separates "
                                     "vector components)")
            if name in data.particles.keys():
                raise MgBarrierError(f"output property {name!r} is already a particle property of the input, "
                                     "which is never replaced; choose another name")
            from mgbarrier.io.species import parse_species_map

            atoms = atoms_from_data(data, source=f"frame {frame}", species_map=parse_species_map(self.species) or None)
            yield "Energy Barrier: loading model"
            model = self.model()
            unknown = sorted(set(atoms.get_chemical_symbols()) - set(model.species))
            if unknown:
                raise MgBarrierError(
                    f"frame {frame}: species {', '.join(unknown)} not known to the model "
                    f"(it predicts {', '.join(model.species)})")
            yield "Energy Barrier: predicting"
            barrier, notes = self._predict(atoms, frame)
        except MgBarrierError as exc:
            raise RuntimeError(f"Energy Barrier (mgbarrier): {exc}") from None
        yield 0.9
        data.particles_.create_property(name, data=barrier.astype(np.float32))

        mask = np.ones(len(barrier), bool)
        if self.only_selected and "Selection" in data.particles:
            mask = np.asarray(data.particles["Selection"]) != 0
        vals = barrier[mask]
        symbols = np.asarray(atoms.get_chemical_symbols())[mask]
        attrs = data.attributes
        if len(vals):
            lo, mean, hi = float(vals.min()), float(vals.mean()), float(vals.max())
            attrs["EnergyBarrier.min"], attrs["EnergyBarrier.mean"], attrs["EnergyBarrier.max"] = lo, mean, hi
            parts = [f"min {lo:.3f}", f"mean {mean:.3f}", f"max {hi:.3f} eV"]
            for el in sorted(set(symbols.tolist())):
                m = float(vals[symbols == el].mean())
                attrs[f"EnergyBarrier.mean.{el}"] = m
                parts.append(f"{el} {m:.3f}")
            attrs["EnergyBarrier.status"] = "Energy Barrier: " + ", ".join(parts)
            counts, edges = np.histogram(vals, bins=int(self.histogram_bins))
            table = data.tables.create(identifier="energy-barrier-histogram", title="Energy barrier histogram",
                                       plot_mode=DataTable.PlotMode.Histogram, axis_label_x="Energy barrier (eV)",
                                       axis_label_y="Count")
            table.interval = (float(edges[0]), float(edges[-1]))
            table.y = table.create_property("Count", data=counts)
        else:
            lo = hi = 0.0

        if self.color_coding:
            if self.auto_range:
                start, end = lo, hi
            else:
                start, end = self.start_value, self.end_value
            attrs["EnergyBarrier.color_start"], attrs["EnergyBarrier.color_end"] = float(start), float(end)
            data.apply(self.color_coding_modifier(start, end))
        status = attrs.get("EnergyBarrier.status", "Energy Barrier: no particles selected")
        if notes:
            attrs["EnergyBarrier.warning"] = " | ".join(notes)
            status = "WARNING: " + " | ".join(notes) + " -- " + status
        yield status
