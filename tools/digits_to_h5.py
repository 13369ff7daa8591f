#!/usr/bin/env python3
"""Convert scikit-learn's `load_digits` (8×8 handwritten digits, 1,797 rows, 10 classes; the data
ship inside the scikit-learn package, nothing is downloaded) into gradcore dataset files (docs/design.md §2):
/X float32 [N, 64] scaled from the pixel range 0..16 to [0, 1], /y int32, /ids int64 (the row in
load_digits, so a result can be traced back), root attribute num_classes = 10.

The train/test split is stratified and fixed by --seed, so every run of the demonstration and of
tests/reference/test_eval.py sees the same rows.

usage:  python tools/digits_to_h5.py TRAIN.h5 TEST.h5 [--test-fraction 0.2] [--seed 0]
"""
import argparse

import h5py
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def write(path, X, y, ids):
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X.astype(np.float32))
        f.create_dataset("y", data=y.astype(np.int32))
        f.create_dataset("ids", data=ids.astype(np.int64))
        f.attrs["num_classes"] = 10
        f.attrs["source"] = "sklearn.datasets.load_digits, pixels / 16"


def convert(train_path, test_path, test_fraction=0.2, seed=0):
    """Writes both files; returns (rows in train, rows in test)."""
    digits = load_digits()
    X = digits.data / 16.0
    ids = np.arange(len(digits.target))
    X_tr, X_te, y_tr, y_te, id_tr, id_te = train_test_split(
        X, digits.target, ids, test_size=test_fraction, stratify=digits.target, random_state=seed)
    write(train_path, X_tr, y_tr, id_tr)
    write(test_path, X_te, y_te, id_te)
    return len(y_tr), len(y_te)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n_train, n_test = convert(args.train, args.test, args.test_fraction, args.seed)
    print(f"digits: {n_train} training rows -> {args.train}, {n_test} test rows -> {args.test}")


if __name__ == "__main__":
    main()
