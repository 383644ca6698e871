"""The neural-network potential: a species-aware equivariant network
(:mod:`jaxrxn.nnp.model`), its training on energies and forces (:mod:`jaxrxn.nnp.train`),
labelled configurations from reaction data sets (:mod:`jaxrxn.nnp.data`) and the models
that ship with jaxrxn (:mod:`jaxrxn.nnp.shipped`: ``jaxrxn.nnp.pretrained(numbers)``)."""

from jaxrxn._lazy import attach

_NAMES = {
    **dict.fromkeys(("NNPEnergy", "load_model", "nnp_potential", "save_model"), "jaxrxn.nnp.model"),
    **dict.fromkeys(("PRETRAINED", "check_domain", "load_pretrained", "pretrained"), "jaxrxn.nnp.shipped"),
}

__getattr__, __dir__, __all__ = attach(__name__, _NAMES)
