"""The token ids every text model and vocabulary agree on: padding is 0, the unknown word 1.

Here, in the lowest layer that uses them, so that the models (which mask padding and leave
unknown words out of their n-gram scores) and the text package (whose ``Vocab`` puts
``<pad>`` and ``<unk>`` at these ids) share one definition.
"""

PAD_ID = 0
UNK_ID = 1
