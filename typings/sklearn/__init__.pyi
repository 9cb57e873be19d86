# Only what functional_nn.datasets uses; scikit-learn ships no type information.
