"""Models that use other models (`uses:`), objectives, and the generative ops (reparameterize, losses, expand)."""
import math

import pytest
import torch
import torch.nn.functional as F

import archdsl
from archdsl.cli import main as cli
from archdsl.errors import ShapeError, StructureError, TypeError_, UsageError
from tests.helpers import assert_static_equals_runtime, spec_path

# `outer` uses `vae`, which uses `encoder` (declared after it) and `decoder`; the encoder holds a block, so
# the runtime check must number the block's calls per model.
NESTED = """\
name: nested
params: {latent: 3}
blocks:
  Dense(width):
    layers:
      fc: linear(width)
    forward: |
      relu(fc(x))
models:
  vae:
    inputs: {x: [N, 10]}
    uses: [encoder, decoder]
    forward: |
      mu, logvar = encoder(x)
      z = reparameterize(mu, logvar)
      decoder(z), mu, logvar
  encoder:
    inputs: {x: [N, 10]}
    layers:
      body: Dense(8)
      mu: linear(latent)
      logvar: linear(latent)
    forward: |
      h = body(x)
      mu(h), logvar(h)
  decoder:
    inputs: {z: [N, latent]}
    layers:
      out: "[linear(10), sigmoid]"
    forward: |
      out(z)
  outer:
    inputs: {x: [N, 10]}
    uses: [vae]
    layers:
      head: linear(2)
    forward: |
      x_hat, mu, logvar = vae(x)
      head(x_hat)
objectives:
  neg_elbo:
    doc: the negative ELBO
    inputs:
      x: [N, 10]
      x_hat: vae[0]
      mu: vae[1]
      logvar: vae[2]
    forward: |
      rec = bce(x_hat, x, reduction='batchmean')
      kl = kl_normal(mu, logvar, reduction='batchmean')
      rec + kl, rec, kl
"""


def test_a_model_uses_others_sharing_their_modules(write_spec):
    spec = archdsl.load(write_spec(NESTED))
    shapes = spec.check()
    assert list(spec.graph.roots) == ["encoder", "decoder", "vae", "outer"]  # each after the models it uses
    assert spec.graph.uses == {"vae": ["encoder", "decoder"], "encoder": [], "decoder": [], "outer": ["vae"]}
    # the vae's call runs the encoder's layers once more: nodes of the encoder's layers, made by the vae
    node = spec.graph.node("encoder.mu@1")
    assert node.model == "vae" and node.module == "encoder.mu" and shapes["encoder.mu@1"][1] == 3   # latent: 3
    assert spec.graph.g.has_edge("vae.x", "encoder.body.fc@1")   # an edge between the models
    assert spec.graph.node("encoder.body.fc@2").model == "outer"
    for model in spec.models + spec.objectives:
        assert_static_equals_runtime(spec, model, N=3)

    net = spec.build()
    assert net.vae.encoder is net.encoder and net.vae.decoder is net.decoder and net.outer.vae is net.vae
    assert spec.summary().params == sum(p.numel() for p in net.parameters())   # shared weights counted once
    # NESTED's layers once each: body.fc 10 -> 8, mu and logvar 8 -> 3, decoder 3 -> 10, head 10 -> 2
    assert spec.summary().params == (10 * 8 + 8) + 2 * (8 * 3 + 3) + (3 * 10 + 10) + (10 * 2 + 2) == 204
    # the container's state_dict lists each weight once, under the model that owns it, and loads back
    keys = list(net.state_dict())
    assert "encoder.body.fc.weight" in keys and "outer.head.weight" in keys
    assert not any(k.startswith(("vae.encoder.", "outer.vae.")) for k in keys)
    other = spec.build()
    other.load_state_dict(net.state_dict())   # strict
    for a, b in zip(net.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(other.outer.vae.encoder.mu.weight, net.encoder.mu.weight)
    # a model built alone makes the models it uses
    alone = spec.build("outer")
    assert {k.split(".")[0] for k in alone.state_dict()} == {"vae", "head"}
    assert "vae.encoder.body.fc.weight" in alone.state_dict()
    assert alone(torch.randn(4, 10)).shape == (4, 2)   # head: linear(2)
    assert "self.vae = Vae(encoder=self.encoder, decoder=self.decoder)" in spec.source
    assert "self.encoder = Encoder() if encoder is None else encoder" in spec.source


def test_objectives_are_plain_functions_of_the_models_outputs(write_spec):
    spec = archdsl.load(write_spec(NESTED))
    assert spec.objectives == ["neg_elbo"]
    shapes = spec.check()
    assert shapes["neg_elbo.add"] == () and shapes["neg_elbo.x_hat"][1] == 10   # a scalar; x is [N, 10]
    assert spec.graph.g.has_edge("decoder.out.1@1", "neg_elbo.x_hat")   # bound to the vae's output
    neg_elbo = spec.objective("neg_elbo")
    assert neg_elbo.__name__ == "neg_elbo" and neg_elbo.__doc__.startswith("the negative ELBO")
    net = spec.build().eval()
    x = torch.rand(5, 10)
    x_hat, mu, logvar = net.vae(x)
    total, rec, kl = neg_elbo(x, x_hat, mu, logvar)
    want_rec = F.binary_cross_entropy(x_hat, x, reduction="sum") / 5
    want_kl = (-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).sum() / 5
    torch.testing.assert_close(rec, want_rec)
    torch.testing.assert_close(kl, want_kl)
    torch.testing.assert_close(total, want_rec + want_kl)
    total.backward()
    assert net.encoder.mu.weight.grad is not None
    with pytest.raises(UsageError, match="spec.objective"):
        spec.build("neg_elbo")
    with pytest.raises(UsageError, match="no objective `nope`; objectives: neg_elbo"):
        spec.objective("nope")
    assert "def neg_elbo(x, x_hat, mu, logvar):" in spec.source


def test_an_objective_may_bind_one_output_twice(write_spec):
    text = """\
models:
  d:
    inputs: {x: [N, 4]}
    layers: {fc: "[linear(1), sigmoid]"}
    forward: |
      fc(x)
objectives:
  cls_loss:
    inputs: {real: d, wrong: d}
    forward: |
      bce(real, ones_like(real)) + bce(wrong, zeros_like(wrong)) * 0.5
"""
    spec = archdsl.load(write_spec(text))
    loss = spec.objective("cls_loss")
    a, b = torch.full((3, 1), 0.9), torch.full((3, 1), 0.2)
    # the objective's formula with D(real) = 0.9, D(wrong) = 0.2: -log 0.9 - 0.5 log(1 - 0.2)
    torch.testing.assert_close(loss(a, b), -torch.log(torch.tensor(0.9)) - 0.5 * torch.log(torch.tensor(0.8)))
    assert_static_equals_runtime(spec, "cls_loss", N=2)


def test_gan_losses_and_the_non_saturating_option():
    d_real, d_fake = torch.tensor([[0.9], [0.6]]), torch.tensor([[0.3], [0.1]])
    spec = archdsl.load(spec_path("gan"), noise_dim=4, data_dim=6, g_widths=[5], d_widths=[5])
    d_loss = spec.objective("discriminator_loss")
    want = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    torch.testing.assert_close(d_loss(d_real, d_fake), want)
    torch.testing.assert_close(spec.objective("generator_loss")(d_fake), -torch.log(d_fake).mean())
    minimax = archdsl.load(spec_path("gan"), non_saturating=False, noise_dim=4, data_dim=6, g_widths=[5],
                           d_widths=[5]).objective("generator_loss")
    torch.testing.assert_close(minimax(d_fake), torch.log(1 - d_fake).mean())


def _op(name: str, *args, **kw):
    """Run one op's generated call on tensors (eval mode)."""
    from types import SimpleNamespace

    from archdsl.backends.torch.lowerings import lowering
    from archdsl.errors import Span
    from archdsl.ops import REGISTRY, bind

    op = REGISTRY.get(name)
    a = bind(op, [], {k: (v, Span("t", 1, 1)) for k, v in kw.items()}, Span("t", 1, 1))
    names = [f"x{i}" for i in range(len(args))]
    env = {"torch": torch, "F": F, "self": SimpleNamespace(training=False), **dict(zip(names, args))}
    shape = op.shape(a, [tuple(x.shape) for x in args])
    return eval(lowering(op).call(a, [tuple(x.shape) for x in args], names), env), shape


def test_reparameterize_is_deterministic_in_eval_mode_and_samples_in_training():
    from types import SimpleNamespace

    from archdsl.backends.torch.lowerings import lowering
    from archdsl.errors import Span
    from archdsl.ops import REGISTRY, bind

    op = REGISTRY.get("reparameterize")
    mu, logvar = torch.full((20000, 2), 1.5), torch.full((20000, 2), math.log(0.25))   # sigma = 0.5

    def run(training: bool, sample: str = "train"):
        a = bind(op, [], {"sample": (sample, Span("t", 1, 1))}, Span("t", 1, 1))
        env = {"torch": torch, "self": SimpleNamespace(training=training), "mu": mu, "logvar": logvar}
        return eval(lowering(op).call(a, [mu.shape, logvar.shape], ["mu", "logvar"]), env)

    assert torch.equal(run(False), mu) and torch.equal(run(True, "never"), mu)   # eps = 0
    torch.manual_seed(0)
    # 40,000 draws of N(1.5, 0.5^2): the standard error of the mean is 0.5 / sqrt(40000) = 0.0025 and that of
    # the standard deviation about 0.5 / sqrt(2 * 40000) = 0.0018, so 0.02 is 8 or more standard errors; a
    # wrong sigma (e.g. exp(logvar) = 0.25 instead of exp(logvar / 2) = 0.5) is off by 0.25
    for z in (run(True), run(False, "always")):
        assert abs(z.mean().item() - 1.5) < 0.02 and abs(z.std().item() - 0.5) < 0.02


def test_kl_normal_matches_torch_distributions():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    want = torch.distributions.kl_divergence(q, p)
    got, shape = _op("kl_normal", mu, logvar, reduction="none")
    torch.testing.assert_close(got, want)
    assert shape == (4, 3)
    got, shape = _op("kl_normal", mu, logvar, reduction="batchmean")
    torch.testing.assert_close(got, want.sum() / 4)
    assert shape == ()


def test_expand_replicates_size_one_dims():
    got, shape = _op("expand", torch.randn(2, 5, 1, 1), sizes=[-1, -1, 4, 4])
    assert got.shape == shape == (2, 5, 4, 4)
    from archdsl.errors import ShapeRuleError

    with pytest.raises(ShapeRuleError, match="only replicate dims of size 1"):
        _op("expand", torch.randn(2, 5), sizes=[2, 4])
    with pytest.raises(ShapeRuleError, match="fewer than the rank"):
        _op("expand", torch.randn(2, 5), sizes=[5])


USES_ERRORS = [
    ("uses: [encodr]", StructureError, r"`encodr` is not a model of this spec", "encoder"),
    ("uses: [user]", StructureError, r"the model `user` cannot use itself", None),
    ("uses: [encoder, 3]", StructureError, r"`uses` is a list of model names", None),
]


@pytest.mark.parametrize("line, kind, message, hint", USES_ERRORS)
def test_uses_errors(write_spec, line, kind, message, hint):
    text = f"""\
models:
  encoder:
    inputs: {{x: [N, 4]}}
    layers: {{fc: linear(2)}}
    forward: |
      fc(x)
  user:
    inputs: {{x: [N, 4]}}
    {line}
    forward: |
      encoder(x)
"""
    with pytest.raises(kind, match=message) as info:
        archdsl.load(write_spec(text)).check()
    assert info.value.span.line == 9
    if hint:
        assert hint in info.value.hint


def test_models_using_each_other_in_a_cycle(write_spec):
    text = """\
models:
  a:
    inputs: {x: [N, 4]}
    uses: [b]
    forward: |
      b(x)
  b:
    inputs: {x: [N, 4]}
    uses: [a]
    forward: |
      a(x)
"""
    with pytest.raises(StructureError, match=r"a cycle: a -> b -> a"):
        archdsl.load(write_spec(text)).check()


def test_a_layer_named_like_a_used_model(write_spec):
    text = """\
models:
  enc:
    inputs: {x: [N, 4]}
    forward: |
      relu(x)
  user:
    inputs: {x: [N, 4]}
    uses: [enc]
    layers: {enc: linear(2)}
    forward: |
      enc(x)
"""
    with pytest.raises(StructureError, match="has a layer named `enc`, like the model it uses"):
        archdsl.load(write_spec(text)).check()


ACROSS = """\
models:
  generator:
    inputs: {z: [N, 8]}
    layers: {fc: linear(64)}
    forward: |
      z >> fc >> reshape([0, 1, 8, 8])
  discriminator:
    inputs: {image: [N, 1, SIZE, SIZE]}
    layers:
      conv: conv2d(4, 3, padding=1)
    forward: |
      image >> conv >> flatten
  gan:
    inputs: {z: [N, 8]}
    uses: [generator, discriminator]
    forward: |
      discriminator(generator(z))
"""


def test_shapes_are_checked_across_models(write_spec):
    # the convolution takes any image size, so only the check at the call sees the mismatch
    with pytest.raises(ShapeError, match=r"`gan` calls the model `discriminator` with `image` of shape "
                                         r"\[N, 1, 8, 8\], but `discriminator` takes `image`: \[N, 1, 16, 16\]"):
        archdsl.load(write_spec(ACROSS.replace("SIZE", "16"))).check()
    spec = archdsl.load(write_spec(ACROSS.replace("SIZE", "8")))
    assert spec.check()["discriminator.flatten_1"] == spec.check()["discriminator.flatten"]
    assert_static_equals_runtime(spec, "gan", N=2)


def test_a_mismatch_at_a_model_call_is_reported_before_the_errors_it_causes(write_spec):
    text = ACROSS.replace("SIZE", "8").replace("linear(64)", "linear(72)").replace("[0, 1, 8, 8]", "[0, 2, 6, 6]")
    with pytest.raises(ShapeError, match=r"with `image` of shape \[N, 2, 6, 6\], but `discriminator` takes"):
        archdsl.load(write_spec(text)).check()   # not the conv's "called again with other sizes"


OBJECTIVE_ERRORS = [
    ("inputs: {y: 'model[0]'}\n    forward: |\n      y", TypeError_, r"a tensor cannot be indexed|indexing a tensor"),
    ("inputs: {y: nothing}\n    forward: |\n      y", Exception, r"`nothing` is not defined"),
    ("inputs: {y: 'model + 1'}\n    forward: |\n      y", TypeError_, r"must be one output of a model"),
    ("inputs: {y: model, t: [N, 2]}\n    forward: |\n      mse(y, t, reduction='none')", ShapeError,
     r"ends with scalar losses, but the result of `loss` has shape \[N, 2\]"),
    ("inputs: {y: model}\n    forward: |\n      d = y >> dropout(0.5)\n      mse(d, y)", TypeError_,
     r"`dropout` depends on the training mode"),
    ("inputs: {y: model}\n    layers: {fc: linear(2)}\n    forward: |\n      y", StructureError,
     r"unknown key `layers` in the objective `loss`"),
    ("inputs: {y: model}", StructureError, r"the objective `loss` has no `forward:`"),
    ("inputs: {y: [N, 2]}\n    forward: |\n      mse(y, model)", Exception, r"`model` is not defined"),
]


@pytest.mark.parametrize("body, kind, message", OBJECTIVE_ERRORS, ids=range(len(OBJECTIVE_ERRORS)))
def test_objective_errors(write_spec, body, kind, message):
    text = f"""\
models:
  model:
    inputs: {{x: [N, 4]}}
    layers: {{fc: linear(2)}}
    forward: |
      fc(x)
objectives:
  loss:
    {body}
"""
    from archdsl.errors import ArchDSLError

    with pytest.raises(kind, match=message) as info:
        archdsl.load(write_spec(text)).check()
    assert isinstance(info.value, ArchDSLError) and info.value.span is not None


def test_an_objective_named_like_a_model(write_spec):
    text = """\
models:
  loss:
    inputs: {x: [N, 4]}
    forward: |
      relu(x)
objectives:
  loss:
    inputs: {y: [N, 4]}
    forward: |
      mse(y, y)
"""
    with pytest.raises(StructureError, match="`loss` is both a model and an objective"):
        archdsl.load(write_spec(text))


def test_cli_check_and_compile(capsys):
    assert cli(["check", spec_path("vae")]) == 0
    out = capsys.readouterr().out
    assert "model `vae` ok" in out
    assert cli(["compile", spec_path("vae")]) == 0
    out = capsys.readouterr().out
    assert "def neg_elbo(x, x_hat, mu, logvar):" in out and "class VaeModels(nn.Module):" in out
