"""The input adapter: from the user's montage, rate and units to a model card's contract.

The steps, in the order data meets them: ``channels`` (names), ``montage`` (which slot comes
from which channel), ``filtering`` (the card's pretraining filters), ``resampling``,
``scaling`` (units and the card's normalisation), ``windowing`` (pad / split), and
``streaming`` (a continuous recording cut into windows). ``adapter.InputAdapter`` plans and
applies them.
"""
