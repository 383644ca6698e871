"""Molecules for the reaction data set: SMILES lists, 3D structures, bond graphs.

3D structures come from RDKit (ETKDG, S. Riniker & G. A. Landrum, J. Chem. Inf. Model. 55,
2562 (2015); then MMFF94, T. A. Halgren, J. Comput. Chem. 17, 490 (1996)); RDKit is the
optional ``jaxrxn[data]`` extra. Bond graphs use the covalent-radius rule of
:func:`jaxrxn.reaction.bond_graph` with a scale of 1.3 (``BOND_SCALE``): the default 1.2
misses GFN2-xTB's H2 (0.79 Å against 1.2 x 0.62 Å), a common product here.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from jaxrxn.reaction import bond_graph, bond_graph_hash

BOND_SCALE = 1.3

#: The reactant list shipped with jaxrxn (``jaxrxn/data/reactants.smi``).
REACTANTS = "reactants.smi"


def read_smiles(path: str | None = None) -> list[tuple[str, str]]:
    """``(smiles, name)`` pairs of a SMILES file: one molecule a line, an optional name after
    whitespace; lines starting with ``#`` are comments (``#`` inside a SMILES is a triple
    bond). ``path=None`` reads the shipped reactant list."""
    if path is None:
        text = resources.files("jaxrxn.data").joinpath(REACTANTS).read_text()
    else:
        with open(path) as f:
            text = f.read()
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            smiles, *name = line.split(maxsplit=1)
            out.append((smiles, name[0] if name else smiles))
    return out


def _with_hydrogens(smiles: str):
    """The RDKit molecule of `smiles` with explicit hydrogens. Raises ``ValueError`` for an
    unreadable SMILES; ``ImportError`` without RDKit."""
    try:
        from rdkit import Chem
    except ImportError as err:
        raise ImportError("3D structures from SMILES need RDKit: pip install 'jaxrxn[data]'.") from err
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot read SMILES {smiles!r}.")
    return Chem.AddHs(mol)


def atom_count(smiles: str) -> int:
    """Atoms of `smiles` with explicit hydrogens (RDKit). Raises ``ValueError`` for an
    unreadable SMILES."""
    return _with_hydrogens(smiles).GetNumAtoms()


def embed(smiles: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers ``(N,)`` and a 3D structure ``(N, 3)`` (Å) of `smiles` with explicit
    hydrogens: RDKit ETKDG v3 (seeded, random starting coordinates) then MMFF94 relaxation. Raises ``ValueError`` for an
    unreadable SMILES or a failed embedding; ``ImportError`` without RDKit."""
    mol = _with_hydrogens(smiles)
    from rdkit.Chem import AllChem

    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    # random starting coordinates: the default eigenvalue embedding hangs on cumulenes (allene)
    params.useRandomCoords = True
    params.timeout = 30
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise ValueError(f"RDKit could not embed {smiles!r} in 3D.")
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    return numbers, np.asarray(mol.GetConformer().GetPositions(), float)


def formula(numbers) -> str:
    """Hill formula (``C2H4O``) of atomic numbers."""
    from ase.formula import Formula
    from ase.data import chemical_symbols

    return Formula("".join(chemical_symbols[int(z)] for z in numbers)).format("hill")


def graph_hash(numbers, R: np.ndarray) -> str:
    """Hash of the bond graph at ``R`` (bonds to ``BOND_SCALE``) that does not depend on atom
    order (:func:`jaxrxn.reaction.bond_graph_hash`; the data set also compares energies and
    geometries)."""
    return bond_graph_hash(numbers, bond_graph(np.asarray(R), np.asarray(numbers), BOND_SCALE))


def bond_changes(numbers, R_a: np.ndarray, R_b: np.ndarray) -> str:
    """The reaction type: bonds broken (``-``) and formed (``+``) from ``R_a`` to ``R_b`` as
    sorted element pairs, e.g. ``"-C-H +O-H"``; ``""`` when the bond graphs are equal
    (a conformational change). Atom order must be the same in both structures."""
    from ase.data import chemical_symbols

    A = bond_graph(np.asarray(R_a), np.asarray(numbers), BOND_SCALE)
    B = bond_graph(np.asarray(R_b), np.asarray(numbers), BOND_SCALE)
    out = []
    for sign, M in (("-", A & ~B), ("+", B & ~A)):
        for i, j in zip(*np.nonzero(np.triu(M, 1))):
            pair = sorted((chemical_symbols[int(numbers[i])], chemical_symbols[int(numbers[j])]))
            out.append(sign + "-".join(pair))
    return " ".join(sorted(out))
