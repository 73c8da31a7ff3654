"""Blendshape deformation: weights ``(n_frames, n_targets)`` → positions ``(n_frames, V, 3)``.

glTF morph targets are deltas (spec §3.7.2.2): ``positions = base + Σ_k weights[k] · deltas[k]``.
With the deltas laid out as a ``(n_targets, 3V)`` matrix ``D`` that is a matrix product, and the
cost of one frame is reading ``D``: for a 20,000-vertex, 52-target rig 12.5 MB, which fits the L3
cache, so a single BLAS GEMV (about 4,500 frames/s on one core) beats any Python loop over
targets (about 1,000 frames/s). Real face rigs are also *sparse*: a target moves one region
(ICT FaceKit's 53 targets move 9-67 % of its vertices, in a few contiguous index ranges) and most
weights of a frame are zero. :class:`Deformer` therefore precomputes, per target, the range of
vertex indices it moves, and per call picks the cheapest of

* ``"gemm"`` / ``"gemv"``: one BLAS product over all targets (dense weights);
* ``"block"``: a BLAS product over the contiguous block of targets from the first to the last
  non-zero weight (weights clustered in a few targets);
* ``"ranges"``: for each non-zero weight only, a scaled add over the vertex range its target
  moves (few active targets, local targets);

estimating each path's cost from the number of array elements it touches. Targets whose weight
is zero are never read on the last two paths. Results are float32, identical (to rounding) on
every path; the per-target arrays are views of one matrix, so no delta is stored twice.
"""

from __future__ import annotations

import numpy as np

from facs_rig.core.mesh import MorphMesh

__all__ = ["Deformer", "deform", "vertex_normals"]

#: Relative cost per element touched, measured on the reference machine (one core, AMD EPYC):
#: a BLAS GEMV streams the matrix once (cost 1); a numpy scaled add reads the delta row, writes a
#: scratch row, then reads and writes the output (about 3); each numpy call has a fixed overhead
#: worth about 3,000 streamed elements (~2 µs).
_GEMV_COST = 1.0
_AXPY_COST = 3.0
_CALL_COST = 3000.0
#: Frames per BLAS call in batches. BLAS re-packs the delta matrix on every call, so large blocks
#: win even though the output block no longer fits in cache when the base is added: on the
#: reference machine (20k vertices, 52 targets) 64-frame blocks gave 4,900-9,800 frames/s,
#: 256 gave 12,200 and 1,000 gave 12,800.
_BATCH_ROWS = 1024


class Deformer:
    """Precomputed deformation of one mesh: call it with weights to get positions.

    Parameters
    ----------
    mesh : MorphMesh
        Rest positions ``(V, 3)`` and deltas ``(T, V, 3)``.
    strategy : {"auto", "dense", "sparse"}
        ``"auto"`` picks per call by estimated cost; ``"dense"`` always uses one BLAS product;
        ``"sparse"`` always loops over the non-zero weights' vertex ranges (for tests and
        benchmarks).

    Examples
    --------
    >>> mesh = MorphMesh("tri", np.zeros((3, 3), np.float32), np.array([[0, 1, 2]], np.uint32),
    ...                  ("up",), np.array([[[0, 0, 1]] * 3], np.float32))
    >>> Deformer(mesh)(np.array([0.5], np.float32))[:, 2].tolist()
    [0.5, 0.5, 0.5]
    """

    def __init__(self, mesh: MorphMesh, *, strategy: str = "auto"):
        if strategy not in ("auto", "dense", "sparse"):
            raise ValueError(f"strategy must be auto, dense or sparse, got {strategy!r}")
        self.strategy = strategy
        self.n_vertices = mesh.n_vertices
        self.n_targets = len(mesh.target_names)
        self.target_names = mesh.target_names
        self._base = np.ascontiguousarray(mesh.positions, dtype=np.float32).reshape(-1)
        self._matrix = np.ascontiguousarray(mesh.deltas, dtype=np.float32).reshape(
            self.n_targets, 3 * self.n_vertices)
        self._base.flags.writeable = False
        self._matrix.flags.writeable = False
        # Per target, the [start, stop) range of flat coordinates it moves (empty when it moves
        # nothing); found with one pass over the matrix.
        moved = self._matrix != 0
        any_moved = moved.any(axis=1)
        first = np.argmax(moved, axis=1)
        last = moved.shape[1] - np.argmax(moved[:, ::-1], axis=1)
        self._starts = np.where(any_moved, first, 0).astype(np.int64)
        self._stops = np.where(any_moved, last, 0).astype(np.int64)
        self._range_sizes = self._stops - self._starts
        self._scratch = np.zeros(int(self._range_sizes.max(initial=0)), dtype=np.float32)

    # ---------------------------------------------------------------------------- planning

    def plan(self, weights: np.ndarray) -> tuple[str, np.ndarray]:
        """The path a call with ``weights`` ``(T,)`` or ``(F, T)`` takes, and the targets it reads.

        Returns
        -------
        path : str
            ``"zero"``, ``"gemv"``/``"gemm"``, ``"block"`` or ``"ranges"``.
        targets : (k,) int64
            Targets read: all for gemv/gemm, the block for ``"block"``, the non-zero ones for
            ``"ranges"``.
        """
        weights = np.asarray(weights)
        batch = weights.ndim == 2
        frames = weights.shape[0] if batch else 1
        dense_name = "gemm" if batch else "gemv"
        all_targets = np.arange(self.n_targets)
        nonzero = weights != 0
        active = np.flatnonzero(nonzero.any(axis=0) if batch else nonzero)
        if self.strategy == "dense":
            return dense_name, all_targets
        if active.size == 0:
            return "zero", active
        if self.strategy == "sparse":
            return "ranges", active
        width = 3 * self.n_vertices
        # Per frame: the ranges path touches each active target's range in every frame where its
        # weight is non-zero; the products touch their rows once per frame.
        if batch:
            counts = nonzero[:, active].sum(axis=0)
            ranges_cost = float(np.sum(counts * (self._range_sizes[active] * _AXPY_COST
                                                 + _CALL_COST * 2)))
        else:
            ranges_cost = float(np.sum(self._range_sizes[active]) * _AXPY_COST
                                + _CALL_COST * 2 * active.size)
        block = np.arange(active[0], active[-1] + 1)
        block_cost = frames * (block.size * width * _GEMV_COST + width) + _CALL_COST
        dense_cost = frames * (self.n_targets * width * _GEMV_COST + width) + _CALL_COST
        best = min(ranges_cost, block_cost, dense_cost)
        if best == dense_cost or block.size == self.n_targets:
            return dense_name, all_targets
        if best == block_cost:
            return "block", block
        return "ranges", active

    # ---------------------------------------------------------------------------- evaluation

    def __call__(self, weights: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """Positions for one frame ``(T,)`` → ``(V, 3)`` or many ``(F, T)`` → ``(F, V, 3)``.

        Parameters
        ----------
        weights : (T,) or (F, T) array
            Target weights (any real values; glTF does not clamp them).
        out : float32 array of the result's shape, optional
            Written in place and returned (saves the allocation in a render loop).
        """
        weights = np.asarray(weights, dtype=np.float32)
        if weights.ndim not in (1, 2) or weights.shape[-1] != self.n_targets:
            raise ValueError(f"weights must have shape (n_targets,) or (n_frames, n_targets) with "
                             f"n_targets = {self.n_targets}, got {weights.shape}")
        if weights.ndim == 1:
            shape = (self.n_vertices, 3)
            flat_out = self._output(out, shape)
            self._frame(weights, flat_out)
        else:
            shape = (weights.shape[0], self.n_vertices, 3)
            flat_out = self._output(out, shape)
            self._frames(weights, flat_out.reshape(weights.shape[0], -1))
        return flat_out.reshape(shape)

    def _output(self, out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
        if out is None:
            return np.zeros(shape, dtype=np.float32).reshape(-1)
        if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}")
        return out.reshape(-1)

    def _frame(self, weights: np.ndarray, out: np.ndarray) -> None:
        path, targets = self.plan(weights)
        if path == "gemv":
            np.dot(weights, self._matrix, out=out)
            out += self._base
        elif path == "block":
            np.dot(weights[targets[0]:targets[-1] + 1], self._matrix[targets[0]:targets[-1] + 1],
                   out=out)
            out += self._base
        else:
            out[:] = self._base
            if path == "ranges":
                self._add_ranges(weights, targets, out)

    def _add_ranges(self, weights: np.ndarray, targets: np.ndarray, out: np.ndarray) -> None:
        starts, stops, matrix, scratch = self._starts, self._stops, self._matrix, self._scratch
        for target in targets.tolist():
            start, stop = starts[target], stops[target]
            part = scratch[:stop - start]
            np.multiply(matrix[target, start:stop], weights[target], out=part)
            np.add(out[start:stop], part, out=out[start:stop])

    def _frames(self, weights: np.ndarray, out: np.ndarray) -> None:
        path, targets = self.plan(weights)
        if path in ("ranges", "zero"):
            for row in range(weights.shape[0]):
                self._frame(weights[row], out[row])
            return
        lo, hi = (0, self.n_targets) if path == "gemm" else (int(targets[0]), int(targets[-1]) + 1)
        matrix = self._matrix[lo:hi]
        for start in range(0, weights.shape[0], _BATCH_ROWS):
            stop = min(start + _BATCH_ROWS, weights.shape[0])
            block = out[start:stop]
            np.matmul(weights[start:stop, lo:hi], matrix, out=block)
            block += self._base


def deform(mesh: MorphMesh, weights: np.ndarray) -> np.ndarray:
    """Deformed positions of ``mesh`` for ``weights`` ``(F, T)`` → ``(F, V, 3)`` float32.

    A one-dimensional ``(T,)`` gives one frame ``(V, 3)``. For repeated calls on one mesh, build
    a :class:`Deformer` once instead.
    """
    return Deformer(mesh)(weights)


def vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(V, 3)`` float32 of a triangle mesh.

    Vertices in no triangle (or only degenerate ones) get ``(0, 0, 1)``.
    """
    positions = np.asarray(positions, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    corners = positions[faces]
    # The cross product's length is twice the triangle's area: summing it weights by area.
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(positions)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    result = np.where(length > 1e-20, normals / np.where(length > 1e-20, length, 1.0),
                      np.array([0.0, 0.0, 1.0]))
    return result.astype(np.float32)
