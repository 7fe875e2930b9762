"""A constant-velocity Kalman filter on a face box's centre and size."""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]


def box_to_state(box: Box) -> np.ndarray:
    """``x0, y0, x1, y1`` -> ``cx, cy, w, h``."""
    x0, y0, x1, y1 = box
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], np.float64)


def state_to_box(state: np.ndarray) -> Box:
    """``cx, cy, w, h`` -> ``x0, y0, x1, y1`` (sizes kept positive)."""
    cx, cy, w, h = state[:4]
    w, h = max(float(w), 1.0), max(float(h), 1.0)
    return (float(cx - w / 2), float(cy - h / 2), float(cx + w / 2), float(cy + h / 2))


class BoxKalman:
    """State ``cx, cy, w, h`` and their velocities per frame; noise scales with the face size.

    The noise model follows SORT/ByteTrack: position noise proportional to the box height, so
    small and large faces are treated alike.
    """

    POSITION_NOISE = 1 / 20
    VELOCITY_NOISE = 1 / 160

    def __init__(self, box: Box) -> None:
        measurement = box_to_state(box)
        self.mean = np.concatenate([measurement, np.zeros(4)])
        size = max(measurement[3], 1.0)
        std = np.array([2 * self.POSITION_NOISE] * 4 + [10 * self.VELOCITY_NOISE] * 4) * size
        self.covariance = np.diag(std**2)
        self._motion = np.eye(8)
        self._motion[:4, 4:] = np.eye(4)
        self._observe = np.eye(4, 8)

    def predict(self) -> Box:
        """Advance one frame; returns the predicted box."""
        size = max(self.mean[3], 1.0)
        std = np.array([self.POSITION_NOISE] * 4 + [self.VELOCITY_NOISE] * 4) * size
        self.mean = self._motion @ self.mean
        self.covariance = self._motion @ self.covariance @ self._motion.T + np.diag(std**2)
        return self.box

    def update(self, box: Box) -> None:
        """Correct the state with a measured box."""
        size = max(self.mean[3], 1.0)
        noise = np.diag((np.full(4, self.POSITION_NOISE) * size) ** 2)
        projected = self._observe @ self.covariance @ self._observe.T + noise
        gain = np.linalg.solve(projected, self._observe @ self.covariance).T
        self.mean = self.mean + gain @ (box_to_state(box) - self._observe @ self.mean)
        self.covariance = (np.eye(8) - gain @ self._observe) @ self.covariance

    @property
    def box(self) -> Box:
        """The current estimate as ``x0, y0, x1, y1``."""
        return state_to_box(self.mean)

    @property
    def velocity(self) -> np.ndarray:
        """``dcx, dcy, dw, dh`` per frame."""
        return self.mean[4:].copy()
