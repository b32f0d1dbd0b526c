"""The scores a decoder may attend by (zoo.layers.SourceAttention): Luong et al. 2015's dot
(h_t . h_s) and general (h_t W h_s), Bahdanau et al. 2015's additive (v . tanh(W1 h_t + W2 h_s)).

Named here, apart from the layer, so that the architecture's settings (ATTENTION=) read them without
importing Keras, and the layer without importing the architecture.
"""

ATTENTION_SCORES = ("dot", "general", "additive")
