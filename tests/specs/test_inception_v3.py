"""specs/inception_v3.yaml with aux_logits=true: torchvision's AuxLogits head, its output by mode.

torchvision's Inception3 (torchvision 0.28, models/inception.py) builds `AuxLogits = InceptionAux(768,
num_classes)` after Mixed_6e when aux_logits=True, runs it in training mode only, and returns
`(logits, aux)` in training and the logits alone in eval. InceptionAux is conv0 = BasicConv2d(768, 128,
kernel_size=1), conv1 = BasicConv2d(128, 768, kernel_size=5), fc = Linear(768, num_classes), applied after
F.avg_pool2d(kernel_size=5, stride=3) and before F.adaptive_avg_pool2d(1) and flatten; BasicConv2d is a conv
without bias, BatchNorm2d(eps=0.001) and ReLU. The reference (aux_logits=False) is checked by test_zoo_parity.py:
keys, parameters, fingerprint and MACs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from archdsl import zoo as catalogue
from archdsl.ir.graph import ModeChoice
from tests.reference import fingerprint, zoo

# the AuxLogits keys and shapes, from InceptionAux's layers above (BatchNorm2d's buffers in torch's order)
AUX_KEYS = [
    ("AuxLogits.conv0.conv.weight", [128, 768, 1, 1]),
    *[(f"AuxLogits.conv0.bn.{k}", [128]) for k in ("weight", "bias", "running_mean", "running_var")],
    ("AuxLogits.conv0.bn.num_batches_tracked", []),
    ("AuxLogits.conv1.conv.weight", [768, 128, 5, 5]),
    *[(f"AuxLogits.conv1.bn.{k}", [768]) for k in ("weight", "bias", "running_mean", "running_var")],
    ("AuxLogits.conv1.bn.num_batches_tracked", []),
    ("AuxLogits.fc.weight", [1000, 768]),
    ("AuxLogits.fc.bias", [1000]),
]


def test_aux_logits_keys_are_torchvisions():
    """The reference's keys (aux_logits=False) with AuxLogits's between Mixed_6e's and Mixed_7a's, where
    Inception3.__init__ makes it; the count is torchvision's published 27,161,264 (test_zoo_parity.py)."""
    reference = list(zoo()["inception_v3"]["state_dict"].items())
    at = next(k for k, (key, _) in enumerate(reference) if key.startswith("Mixed_7a."))
    with torch.device("meta"):
        net = catalogue.load("inception_v3", aux_logits=True).build()
    assert [(k, list(v.shape)) for k, v in net.state_dict().items()] == reference[:at] + AUX_KEYS + reference[at:]


def test_aux_logits_outputs_by_mode():
    spec = catalogue.load("inception_v3", aux_logits=True, N=2)
    output = spec.graph.outputs["inception_v3"]
    assert isinstance(output, ModeChoice)
    assert [spec.graph.shape(t) for t in output.train] == [(2, 1000), (2, 1000)]
    assert spec.graph.shape(output.eval) == (2, 1000)
    fp, ref = fingerprint(), zoo()["inception_v3"]
    net = fp.fill_deterministic(spec.build())
    x = fp.deterministic_input(ref["input_shape"])
    with torch.no_grad():
        logits = net.eval()(x)
    # eval: the logits alone, torchvision's (the head does not change them)
    assert isinstance(logits, torch.Tensor)
    ok, diff = fp.matches(fp.fingerprint_of(logits), ref["fingerprint"], rtol=1e-4)
    assert ok, diff
    # training: (logits, aux); aux against InceptionAux written with torch's functions on Mixed_6e's output
    seen = []
    net.Mixed_6e.register_forward_hook(lambda module, args, out: seen.append(out))
    with torch.no_grad():
        got = net.train()(x)
    assert isinstance(got, tuple) and [list(t.shape) for t in got] == [[2, 1000], [2, 1000]]
    aux = net.AuxLogits

    def basic_conv(y, layer):  # in training mode: batch norm over the batch's statistics
        y = F.conv2d(y, layer.conv.weight)
        return F.relu(F.batch_norm(y, None, None, layer.bn.weight, layer.bn.bias, training=True, eps=0.001))

    with torch.no_grad():
        y = basic_conv(basic_conv(F.avg_pool2d(seen[0], kernel_size=5, stride=3), aux.conv0), aux.conv1)
        want = F.linear(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1), aux.fc.weight, aux.fc.bias)
    torch.testing.assert_close(got[1], want)
    assert "        if self.training:\n            return (logits, self.AuxLogits(x6e))\n        return logits\n" \
        in spec.source
