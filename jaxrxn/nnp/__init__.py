"""The neural-network potential: a species-aware equivariant network and the model that
ships with jaxrxn (:mod:`jaxrxn.nnp.model`: ``jaxrxn.nnp.pretrained(numbers)``, ``--calc
nnp``), its training on energies and forces (:mod:`jaxrxn.nnp.train`) and labelled
configurations from reaction data sets (:mod:`jaxrxn.nnp.data`)."""

from jaxrxn._lazy import attach

_NAMES = dict.fromkeys(
    ("NNPEnergy", "PRETRAINED", "check_domain", "load_model", "load_pretrained", "nnp_potential", "pretrained", "save_model"),
    "jaxrxn.nnp.model",
)

__getattr__, __dir__, __all__ = attach(__name__, _NAMES)
