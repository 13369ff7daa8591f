#!/usr/bin/env python3
"""Export a PyTorch nn.Sequential MLP to gradcore's model file (docs/design.md §2, read by io/model.c).

Layout: /layers/<i>/W float32 [out, in] and /layers/<i>/b float32 [out] for the i-th Linear layer,
root attribute `activation` (relu | tanh | gelu | identity) applied between consecutive Linear
layers; the last Linear produces the logits. gradcore applies one activation kind throughout, so
a model that mixes kinds is refused rather than silently changed. Dropout and Identity are
skipped (they do nothing at inference); a Linear without bias gets b = 0.

usage:  python tools/export_model.py MODEL.pt OUT.h5     (MODEL.pt: torch.save of the nn.Sequential)
   or:  from export_model import export_sequential; export_sequential(model, "model.h5")
"""
import argparse
import sys

import h5py
import numpy as np


def _activation_name(module):
    import torch.nn as nn

    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.Tanh):
        return "tanh"
    if isinstance(module, nn.GELU):
        if module.approximate != "none":
            raise ValueError("GELU(approximate='tanh') is not supported: gradcore's GELU is the exact erf form")
        return "gelu"
    return None


def sequential_layers(model):
    """([(W, b)] as float32 numpy arrays, activation name) of an nn.Sequential MLP."""
    import torch.nn as nn

    if not isinstance(model, nn.Sequential):
        raise TypeError(f"expected an nn.Sequential, got {type(model).__name__}")
    linears, between, pending = [], [], None  # pending: activation seen since the last Linear
    for i, module in enumerate(model):
        if isinstance(module, nn.Linear):
            if pending is not None and not linears:
                raise ValueError("the model starts with an activation: gradcore's first layer is a Linear")
            if linears:
                between.append(pending or "identity")
            if linears and module.in_features != linears[-1].out_features:
                raise ValueError(f"layer {i}: Linear takes {module.in_features} inputs but the previous Linear "
                                 f"gives {linears[-1].out_features}")
            linears.append(module)
            pending = None
        elif isinstance(module, (nn.Dropout, nn.Identity)):
            continue
        else:
            name = _activation_name(module)
            if name is None:
                raise ValueError(f"layer {i} ({type(module).__name__}) is not Linear, ReLU, Tanh, GELU, Dropout "
                                 f"or Identity")
            if pending is not None:
                raise ValueError(f"layer {i}: two activations in a row")
            pending = name
    if not linears:
        raise ValueError("the model has no Linear layer")
    if pending is not None:
        raise ValueError("the model ends in an activation: the last Linear must produce the logits")
    kinds = sorted(set(between))
    if len(kinds) > 1:
        raise ValueError(f"the model mixes activations {kinds}: gradcore applies one kind between all layers")
    layers = []
    for lin in linears:
        W = lin.weight.detach().cpu().numpy().astype(np.float32)
        b = (lin.bias.detach().cpu().numpy() if lin.bias is not None else np.zeros(lin.out_features)).astype(np.float32)
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise ValueError("the model has non-finite weights")
        layers.append((W, b))
    return layers, kinds[0] if kinds else "identity"


def export_sequential(model, path):
    """Writes `model` to `path` in gradcore's model format; returns the activation name."""
    layers, activation = sequential_layers(model)
    with h5py.File(path, "w") as f:
        for i, (W, b) in enumerate(layers):
            f.create_dataset(f"layers/{i}/W", data=W)
            f.create_dataset(f"layers/{i}/b", data=b)
        # A fixed-length ASCII string: the plainest HDF5 string type for C readers.
        f.attrs["activation"] = np.bytes_(activation)
    return activation


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="torch.save'd nn.Sequential (a whole module, not a state_dict)")
    parser.add_argument("out", help="HDF5 file to write")
    args = parser.parse_args(argv)
    import torch

    model = torch.load(args.model, map_location="cpu", weights_only=False)
    try:
        activation = export_sequential(model, args.out)
    except (TypeError, ValueError) as err:
        print(f"export_model: {args.model}: {err}", file=sys.stderr)
        return 2
    widths = [layer.in_features for layer in model if isinstance(layer, torch.nn.Linear)]
    widths.append([layer for layer in model if isinstance(layer, torch.nn.Linear)][-1].out_features)
    print(f"wrote {args.out}: widths {' -> '.join(map(str, widths))}, activation {activation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
