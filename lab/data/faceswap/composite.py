"""Putting a warped face into a target frame: the mask, colour correction, blending, and the clamp.

- mask: the convex hull of the target's 68 points, eroded by `erode` px (elliptic kernel) and feathered by a
  Gaussian (sigma blur / 3, so it fades over about `blur` px);
- colour: `lab` matches the face's mean and standard deviation per LAB channel to the target's inside the mask
  (Reinhard); `hist` matches each LAB channel's histogram (per-channel RGB matching gives pink faces); `none`;
- blend: `alpha` (the feathered mask), `poisson` (`cv2.seamlessClone`, which takes the target's colour at the
  boundary), `laplacian` (a 3-level Laplacian pyramid);
- clamp: Poisson and pyramid blending change pixels beyond the mask they are given (seamlessClone a few px,
  a pyramid ~2^levels px). The result is therefore cut to its support, the hull and wherever the feathered mask is
  non-zero: outside it every pixel is the target's own, bit for bit, and that support is the mask an item stores.
"""
from __future__ import annotations

import cv2
import numpy as np

COLOURS: tuple[str, ...] = ("lab", "hist", "none")
BLENDS: tuple[str, ...] = ("alpha", "poisson", "laplacian")
PYRAMID_LEVELS = 3


def hull(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W) 255 inside the convex hull of `points`, 0 outside."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 255)
    return mask


def feathered_mask(points: np.ndarray, shape: tuple[int, int], erode: int, blur: int,
                   face_hull: np.ndarray | None = None) -> np.ndarray:
    """float32 (H, W) in [0, 1]: the hull eroded by `erode` px and feathered over ~`blur` px. Weights under
    1/255, which cannot change a uint8 pixel, are 0, so the mask's support is where the face can show.
    `face_hull`: `hull(points, shape)` when the caller has it."""
    mask = hull(points, shape) if face_hull is None else face_hull
    if erode > 0:
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    alpha = mask.astype(np.float32) / 255
    if blur > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), blur / 3)
        alpha[alpha < 1 / 255] = 0
    return alpha


def _histogram_lut(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """256-entry map sending `values`' distribution onto `reference`'s (both uint8 1-D)."""
    cdf = np.cumsum(np.bincount(values, minlength=256)) / max(len(values), 1)
    ref = np.cumsum(np.bincount(reference, minlength=256)) / max(len(reference), 1)
    return np.clip(np.searchsorted(ref, cdf - 1e-9), 0, 255).astype(np.uint8)


def correct_colour(face: np.ndarray, target: np.ndarray, inside: np.ndarray, method: str) -> np.ndarray:
    """`face` (uint8 RGB) with its colour inside `inside` (bool) matched to `target`'s there."""
    if method == "none" or not inside.any():
        return face
    lab_face = cv2.cvtColor(face, cv2.COLOR_RGB2LAB)
    lab_target = cv2.cvtColor(target, cv2.COLOR_RGB2LAB)
    if method == "lab":
        out = lab_face.astype(np.float32)
        for c in range(3):
            src, ref = out[..., c][inside], lab_target[..., c][inside].astype(np.float32)
            out[..., c] = (out[..., c] - src.mean()) * (ref.std() + 1e-6) / (src.std() + 1e-6) + ref.mean()
        lab_out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    elif method == "hist":
        lab_out = lab_face.copy()
        for c in range(3):
            lab_out[..., c] = _histogram_lut(lab_face[..., c][inside], lab_target[..., c][inside])[lab_face[..., c]]
    else:
        raise ValueError(f"unknown colour correction {method!r}")
    return cv2.cvtColor(lab_out, cv2.COLOR_LAB2RGB)


def _laplacian_blend(face: np.ndarray, target: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    gf, gt, ga = [face.astype(np.float32)], [target.astype(np.float32)], [alpha]
    for _ in range(PYRAMID_LEVELS):
        gf.append(cv2.pyrDown(gf[-1]))
        gt.append(cv2.pyrDown(gt[-1]))
        ga.append(cv2.pyrDown(ga[-1]))
    out = gf[-1] * ga[-1][..., None] + gt[-1] * (1 - ga[-1][..., None])
    for level in range(PYRAMID_LEVELS - 1, -1, -1):
        size = gf[level].shape[1::-1]
        detail_f = gf[level] - cv2.pyrUp(gf[level + 1], dstsize=size)
        detail_t = gt[level] - cv2.pyrUp(gt[level + 1], dstsize=size)
        a = ga[level][..., None]
        out = cv2.pyrUp(out, dstsize=size) + detail_f * a + detail_t * (1 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def blend(face: np.ndarray, target: np.ndarray, alpha: np.ndarray, method: str) -> np.ndarray:
    """`face` blended into `target` (uint8 RGB) with the feathered mask `alpha`."""
    if method == "alpha":
        return np.clip(face * alpha[..., None] + target * (1 - alpha[..., None]) + 0.5, 0, 255).astype(np.uint8)
    if method == "laplacian":
        return _laplacian_blend(face, target, alpha)
    if method != "poisson":
        raise ValueError(f"unknown blend {method!r}")
    binary = (alpha > 0.5).astype(np.uint8) * 255
    binary[[0, -1], :] = 0  # seamlessClone needs the mask off the image border
    binary[:, [0, -1]] = 0
    if not binary.any():
        return target.copy()
    x, y, w, h = cv2.boundingRect(binary)
    return cv2.seamlessClone(face, target, binary, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)


def composite(target: np.ndarray, face: np.ndarray, points: np.ndarray, *, erode: int, blur: int, colour: str,
              blend_method: str) -> tuple[np.ndarray, np.ndarray]:
    """The fake frame and its support (bool (H, W)): `face` (the warped source, the size of `target`) put into
    `target` inside the hull of the target's `points`; outside the support the fake is `target` exactly."""
    shape = target.shape[:2]
    hull_mask = hull(points, shape)
    alpha = feathered_mask(points, shape, erode, blur, face_hull=hull_mask)
    face_hull = hull_mask > 0
    inside = alpha > 0.5
    corrected = correct_colour(face, target, inside if inside.any() else face_hull, colour)
    blended = blend(corrected, target, alpha, blend_method)
    support = (alpha > 0) | face_hull
    return np.where(support[..., None], blended, target), support
