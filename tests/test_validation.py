"""Bad input raises a ValueError naming the problem, before any jitted work."""

import numpy as np
import pytest

from jaxrxn.validation import check_box, check_configuration, check_n_images, check_same_system


def test_nan_coordinates():
    R = np.zeros((3, 3))
    R[:, 0] = [0, 1, 2]
    R[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite coordinates \\(atom 2\\)"):
        check_configuration(R)


def test_wrong_shape():
    with pytest.raises(ValueError, match="must have shape \\(n_atoms, dim\\)"):
        check_configuration(np.zeros(6))
    with pytest.raises(ValueError, match="has dimension 2; expected 3"):
        check_configuration(np.array([[0.0, 0.0]]), dim=3)


def test_overlapping_atoms_minimum_image():
    R = np.array([[0.05, 0, 0], [9.95, 0, 0]])
    check_configuration(R)  # 9.9 Å apart in free space
    with pytest.raises(ValueError, match="overlapping atoms 0 and 1"):
        check_configuration(R, cell=np.eye(3) * 10, pbc=[True, False, False])


def test_different_atoms_between_end_states():
    R = np.zeros((2, 3))
    with pytest.raises(ValueError, match="different shapes"):
        check_same_system(R, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="different atoms or atom order \\(first difference at atom 0\\)"):
        check_same_system(R, R, [29, 79], [79, 29])


def test_box_and_images():
    with pytest.raises(ValueError, match="below 2 x cutoff"):
        check_box(np.eye(3) * 5, 3.0)
    check_box(np.eye(3) * 5, 3.0, pbc=[False, False, False])
    with pytest.raises(ValueError, match="at least 3 images"):
        check_n_images(2)
