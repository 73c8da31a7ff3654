"""A pinhole camera that frames a face: look-at, perspective projection to pixels.

Conventions follow glTF (glTF 2.0 §3.4): +Y is up and a character faces +Z, so the default camera
sits on the +Z axis looking back at the face. Pixel rows grow downwards, as in every image format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Camera", "frame_camera"]


@dataclass(frozen=True)
class Camera:
    """A perspective camera in world units (metres for glTF).

    Attributes
    ----------
    eye : (3,) float64
        Camera position.
    target : (3,) float64
        Point looked at; it projects to the image centre.
    up : (3,) float64
        Approximate up direction.
    fov_y : float
        Vertical field of view in degrees.
    width, height : int
        Image size in pixels.
    """

    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    fov_y: float = 20.0
    width: int = 512
    height: int = 512

    def basis(self) -> np.ndarray:
        """World-to-camera rotation ``(3, 3)``: rows are the camera's right, up and back axes."""
        eye, target = np.asarray(self.eye, float), np.asarray(self.target, float)
        back = eye - target
        back /= np.linalg.norm(back)
        right = np.cross(np.asarray(self.up, float), back)
        norm = np.linalg.norm(right)
        if norm < 1e-9:  # looking straight along "up": pick any perpendicular
            right = np.cross((1.0, 0.0, 0.0), back)
            norm = np.linalg.norm(right)
        right /= norm
        return np.stack([right, np.cross(back, right), back])

    @property
    def focal_pixels(self) -> float:
        """Focal length in pixels for the vertical field of view."""
        return 0.5 * self.height / math.tan(math.radians(self.fov_y) / 2)

    def resized(self, width: int, height: int) -> Camera:
        """The same view rendered at another image size (used for supersampling)."""
        return Camera(self.eye, self.target, self.up, self.fov_y, width, height)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Project world points to pixels.

        Parameters
        ----------
        points : (n, 3) float
            World positions.

        Returns
        -------
        x, y : (n,) float32
            Pixel coordinates (pixel centres at ``i + 0.5``; y grows downwards).
        depth : (n,) float32
            Distance along the viewing direction (positive in front of the camera).
        """
        rotation = self.basis().astype(np.float32)
        camera_space = (np.asarray(points, np.float32) - np.asarray(self.eye, np.float32)) @ rotation.T
        depth = -camera_space[:, 2]
        safe = np.where(depth > 1e-6, depth, 1e-6).astype(np.float32)
        focal = np.float32(self.focal_pixels)
        x = np.float32(self.width / 2) + focal * camera_space[:, 0] / safe
        y = np.float32(self.height / 2) - focal * camera_space[:, 1] / safe
        return x, y, depth


def frame_camera(
    positions: np.ndarray,
    *,
    width: int = 512,
    height: int = 512,
    yaw: float = 0.0,
    pitch: float = 0.0,
    fov_y: float = 20.0,
    margin: float = 1.12,
    forward: tuple[float, float, float] = (0.0, 0.0, 1.0),
) -> Camera:
    """A camera looking at the mesh's front so that its bounding sphere's front fills the frame.

    Parameters
    ----------
    positions : (n, 3) float
        Points to frame (the neutral mesh; frame once so a clip's camera does not wander).
    width, height : int
        Image size in pixels.
    yaw, pitch : float
        Degrees to orbit the camera to the subject's left (yaw) and upwards (pitch).
    fov_y : float
        Vertical field of view in degrees (a portrait lens: little perspective distortion).
    margin : float
        Extra room around the framed extent (1 = tight).
    forward : (3,) float
        Direction the face looks (glTF characters face +Z).
    """
    points = np.asarray(positions, np.float64)
    direction = np.asarray(forward, float) / np.linalg.norm(forward)
    yaw_r, pitch_r = math.radians(yaw), math.radians(pitch)
    # Orbit about the vertical axis, then raise: a three-quarter view reads depth better.
    rotated = np.array(
        [
            direction[0] * math.cos(yaw_r) + direction[2] * math.sin(yaw_r),
            direction[1],
            -direction[0] * math.sin(yaw_r) + direction[2] * math.cos(yaw_r),
        ]
    )
    rotated = rotated * math.cos(pitch_r) + np.array([0.0, 1.0, 0.0]) * math.sin(pitch_r)
    rotated /= np.linalg.norm(rotated)
    # Extents as the camera sees them (across, up, along the view), so that a turned head is
    # centred and fits: the box's centre in depth lies behind the face, and orbiting about it
    # would swing the face off to one side.
    right = np.cross((0.0, 1.0, 0.0), rotated)
    right = right / np.linalg.norm(right) if np.linalg.norm(right) > 1e-9 else np.array([1.0, 0.0, 0.0])
    up = np.cross(rotated, right)
    axes = np.stack([right, up, rotated])
    local = points @ axes.T
    low, high = local.min(axis=0), local.max(axis=0)
    centre = ((low + high) / 2) @ axes
    extent = high - low
    # Frame the larger of the height and the width, a portrait crop.
    half = max(extent[1], extent[0] * height / max(width, 1)) / 2 * margin
    distance = half / math.tan(math.radians(fov_y) / 2) + extent[2] / 2
    eye = centre + rotated * distance
    return Camera(
        tuple(float(v) for v in eye), tuple(float(v) for v in centre), (0.0, 1.0, 0.0), fov_y, width, height
    )
