"""Software rendering of the humanoid as a stick figure beside the tracker markers (no OpenGL needed: MuJoCo's own
renderer wants EGL or OSMesa, which these machines lack). Two orthographic views side by side — front (looking along
+x) and side (looking along -y) — following the root; bones are lines between each body and its parent, the head a
disc, the input trackers colored squares (hollow when a sample was held, not measured).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

TRACKER_COLORS = ((230, 60, 60), (60, 160, 230), (60, 200, 90))  # head, left hand, right hand


def render_frame(
    bodies: np.ndarray,
    parents: np.ndarray,
    head: np.ndarray,
    trackers: np.ndarray,
    measured: np.ndarray,
    size: tuple[int, int] = (480, 272),
    span: float = 2.4,
    caption: str = "",
) -> np.ndarray:
    """One RGB frame ``(H, W, 3)`` uint8: ``bodies (B, 3)`` body origins [m] with ``parents (B,)`` (index into
    ``bodies``, -1 for the root), the head center, ``trackers (3, 3)`` reported positions, ``measured (3,)`` whether
    each was measured this frame. ``span`` is the height of the view [m]."""
    width, height = size
    image = Image.new("RGB", size, (245, 245, 240))
    draw = ImageDraw.Draw(image)
    half = width // 2
    scale = (height - 20) / span
    center = bodies[0]
    for view, axis in enumerate((1, 0)):  # front view: screen x = -y (left to the right of the picture); side: x
        sign = -1.0 if axis == 1 else 1.0
        x0 = view * half + half / 2

        def px(p: np.ndarray, x0: float = x0, axis: int = axis, sign: float = sign) -> tuple[float, float]:
            return x0 + sign * (p[axis] - center[axis]) * scale, height - 10 - p[2] * scale

        draw.line([(view * half, height - 10), ((view + 1) * half, height - 10)], fill=(150, 150, 150), width=1)
        for child, parent in enumerate(parents):
            if parent >= 0:
                draw.line([px(bodies[parent]), px(bodies[child])], fill=(40, 40, 40), width=4)
        hx, hy = px(head)
        r = 0.1 * scale
        draw.ellipse([hx - r, hy - r, hx + r, hy + r], outline=(40, 40, 40), width=3)
        for k, color in enumerate(TRACKER_COLORS):
            if not np.all(np.isfinite(trackers[k])):
                continue
            tx, ty = px(trackers[k])
            box = [tx - 5, ty - 5, tx + 5, ty + 5]
            draw.rectangle(box, fill=color if measured[k] else None, outline=color, width=2)
    draw.line([(half, 0), (half, height)], fill=(200, 200, 200), width=1)
    if caption:
        draw.text((6, 4), caption, fill=(20, 20, 20))
    return np.asarray(image)
