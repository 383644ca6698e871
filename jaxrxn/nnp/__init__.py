"""The neural-network potential: a species-aware equivariant network
(:mod:`jaxrxn.nnp.model`), its training on energies and forces (:mod:`jaxrxn.nnp.train`)
and labelled configurations from reaction data sets (:mod:`jaxrxn.nnp.data`)."""
