"""Aligning a source face onto a target face's landmarks, from the source frame straight into the target's pixels.

- `similarity`: rotation, uniform scale and shift fitted to the brows, nose and eyes (points 17-47, which an
  expression moves least), LMEDS;
- `affine`: the same with shear and two scales;
- `delaunay`: a piecewise-affine warp over a Delaunay triangulation of the 68 points and 8 points of a box around
  the face, done as ONE `cv2.remap` from a per-pixel map of which triangle each target pixel lies in (warping and
  pasting each triangle separately leaves 1-px seams where rounded triangle boxes meet).
"""
from __future__ import annotations

import cv2
import numpy as np

WARPS: tuple[str, ...] = ("similarity", "affine", "delaunay")
STABLE = slice(17, 48)


def outer_points(points: np.ndarray) -> np.ndarray:
    """(8, 2) points of a box around the face (a quarter of its height above the brows for the forehead, a tenth
    of its size elsewhere), so the triangulation covers the face's whole convex hull and a margin."""
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    w, h = x1 - x0, y1 - y0
    xs = (x0 - 0.1 * w, (x0 + x1) / 2, x1 + 0.1 * w)
    ys = (y0 - 0.25 * h, (y0 + y1) / 2, y1 + 0.1 * h)
    return np.array([(x, y) for y in ys for x in xs if (x, y) != (xs[1], ys[1])], np.float32)


def triangulate(points: np.ndarray) -> np.ndarray:
    """(K, 3) vertex indices of a Delaunay triangulation of `points` ((N, 2), distinct)."""
    x, y, w, h = cv2.boundingRect(points.astype(np.float32))
    subdiv = cv2.Subdiv2D((x - 2, y - 2, w + 4, h + 4))
    for px, py in points:
        subdiv.insert((float(px), float(py)))
    triangles = []
    for corners in subdiv.getTriangleList().reshape(-1, 3, 2):
        distances = [((points - corner) ** 2).sum(1) for corner in corners]
        indices = [int(np.argmin(d)) for d in distances]
        # triangles that use Subdiv2D's virtual outer vertices have a corner at no input point
        if len(set(indices)) == 3 and max(float(d.min()) for d in distances) < 1.0:
            triangles.append(indices)
    return np.array(triangles, np.int32)


def _rigid(src_points: np.ndarray, dst_points: np.ndarray, partial: bool) -> np.ndarray:
    fit = cv2.estimateAffinePartial2D if partial else cv2.estimateAffine2D
    matrix, _ = fit(src_points[STABLE], dst_points[STABLE], method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("the landmarks admit no transform (degenerate points)")
    return matrix


def _piecewise_maps(src_points: np.ndarray, dst_points: np.ndarray, triangles: np.ndarray,
                    shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """remap's maps: for every target pixel inside a triangle, where that triangle's affine map sends it in the
    source; -1 elsewhere."""
    ids = np.full(shape, -1, np.int32)
    maps = np.empty((len(triangles), 2, 3), np.float32)
    for k, tri in enumerate(triangles):
        maps[k] = cv2.getAffineTransform(dst_points[tri].astype(np.float32), src_points[tri].astype(np.float32))
        cv2.fillConvexPoly(ids, np.round(dst_points[tri]).astype(np.int32), k, cv2.LINE_8)
    map_x = np.full(shape, -1, np.float32)
    map_y = np.full(shape, -1, np.float32)
    yy, xx = np.nonzero(ids >= 0)
    a = maps[ids[yy, xx]]
    map_x[yy, xx] = a[:, 0, 0] * xx + a[:, 0, 1] * yy + a[:, 0, 2]
    map_y[yy, xx] = a[:, 1, 0] * xx + a[:, 1, 1] * yy + a[:, 1, 2]
    return map_x, map_y


def warp_face(source: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray, shape: tuple[int, int],
              method: str, triangles: np.ndarray | None = None) -> np.ndarray:
    """The source frame (uint8 (Hs, Ws, 3)) warped so its 68 `src_points` land on `dst_points`, as an image of
    `shape` (H, W). `delaunay` needs `triangles` over the 68 + 8 outer points (`triangulate`)."""
    size = (shape[1], shape[0])
    if method in ("similarity", "affine"):
        matrix = _rigid(src_points, dst_points, partial=method == "similarity")
        return cv2.warpAffine(source, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if method != "delaunay":
        raise ValueError(f"unknown warp {method!r}")
    src = np.vstack([src_points, outer_points(src_points)])
    dst = np.vstack([dst_points, outer_points(dst_points)])
    map_x, map_y = _piecewise_maps(src, dst, triangles, shape)
    return cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
