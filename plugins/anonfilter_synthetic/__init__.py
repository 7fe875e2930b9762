"""The ``synthetic`` method: the default synthetic face replacement, by name.

``--method synthetic`` gives users one stable name while the learned method behind it may
change. It currently delegates to ``latentshift`` (chosen on measured faceness,
de-identification and stability; see docs/methods.md) and accepts that method's options.
"""

import anonfilter
from anonfilter_latentshift import OPTIONS, LatentShift

ANONFILTER_CONTRACT = "1.2"


@anonfilter.hookimpl
def register_methods(register):
    """Register ``synthetic``."""
    register(
        anonfilter.MethodSpec(
            name="synthetic",
            create=LatentShift,
            description="synthetic replacement face, one per person (the default learned method: latentshift)",
            options=OPTIONS,
        )
    )
