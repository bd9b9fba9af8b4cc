"""The generative zoo: autoencoder, VAE, GAN, DCGAN and the text-to-image GAN, each one spec of several models
with its objectives. Static shapes equal PyTorch's at every node of every model and objective (default sizes
and smaller variants); the papers' numbers where they give them.
"""
from __future__ import annotations

import pytest
import torch

import archdsl
from tests.helpers import assert_static_equals_runtime, spec_path

ZOO = {  # spec -> (words its doc names the paper by, models, objectives)
    "autoencoder": (["Hinton", "Salakhutdinov", "2006"], ["encoder", "decoder", "autoencoder"], ["reconstruction"]),
    "vae": (["Kingma", "Welling", "2014"], ["encoder", "decoder", "vae"], ["neg_elbo"]),
    "gan": (["Goodfellow", "2014"], ["generator", "discriminator", "gan"], ["discriminator_loss", "generator_loss"]),
    "dcgan": (["Radford", "2016"], ["generator", "discriminator", "gan"], ["discriminator_loss", "generator_loss"]),
    "text_to_image_gan": (["Reed", "2016"], ["generator", "discriminator", "gan"],
                          ["discriminator_loss", "generator_loss"]),
}
VARIANTS = [  # (spec, params): the defaults, and the sizes the examples and other tests use
    ("autoencoder", {}), ("autoencoder", {"input_dim": 64, "widths": [32], "code": 2, "loss": "mse"}),
    ("vae", {}), ("vae", {"input_dim": 64, "hidden": 32, "latent": 2, "activation": "relu"}),
    ("gan", {}), ("gan", {"noise_dim": 8, "data_dim": 64, "g_widths": [16], "d_widths": [16], "output": "tanh"}),
    ("dcgan", {}), ("dcgan", {"image_size": 16, "channels": 1, "ngf": 8, "ndf": 8, "kernel": 5}),
    ("dcgan", {"image_size": 8, "channels": 1, "ngf": 4, "ndf": 4, "noise_dim": 4}),
    ("text_to_image_gan", {}), ("text_to_image_gan", {"image_size": 32, "ngf": 8, "ndf": 8, "text_dim": 16}),
]


@pytest.mark.parametrize("name", ZOO)
def test_each_spec_names_its_paper_and_holds_its_models_and_objectives(name):
    words, models, objectives = ZOO[name]
    spec = archdsl.load(spec_path(name))
    assert all(w in spec.doc.doc for w in words), spec.doc.doc
    assert spec.models == models and spec.objectives == objectives
    assert all(spec.doc.models[m].doc for m in models) and all(spec.doc.objectives[o].doc for o in objectives)
    assert spec.graph.uses[models[-1]] == models[:2]   # the third model joins the first two


@pytest.mark.parametrize("name, params", VARIANTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VARIANTS)])
def test_static_shapes_equal_runtime_shapes_in_every_model_and_objective(name, params):
    spec = archdsl.load(spec_path(name), **params)
    spec.check()
    for model in spec.models + spec.objectives:
        assert_static_equals_runtime(spec, model, N=2)


def test_autoencoder_narrows_to_the_bottleneck_and_mirrors():
    spec = archdsl.load(spec_path("autoencoder"))
    s = spec.check()
    widths = [s[f"encoder.hidden.{i}"][1] for i in (0, 2, 4)] + [s["encoder.bottleneck"][1]]
    assert widths == [1000, 500, 250, 30]   # Hinton & Salakhutdinov 2006, Fig. 1: 784-1000-500-250-30 for MNIST
    assert [s[f"decoder.hidden.{i}"][1] for i in (0, 2, 4)] + [s["decoder.out.1"][1]] == [250, 500, 1000, 784]
    assert s["reconstruction.bce"] == ()


def test_vae_heads_sampler_and_bernoulli_decoder():
    spec = archdsl.load(spec_path("vae"), latent=7)   # 7: any latent size other than the default
    s = spec.check()
    n = s["vae.x"][0]
    assert s["encoder.mu"] == s["encoder.logvar"] == s["vae.reparameterize"] == (n, 7)
    assert spec.graph.node("decoder.out.1").op.name == "sigmoid"
    net = spec.build().eval()
    x = torch.rand(3, 784)
    x_hat, mu, logvar = net.vae(x)
    assert torch.equal(net.decoder(mu), x_hat)   # eval mode: eps = 0, z = mu
    assert net.vae.train()(x)[0].shape == (3, 784)


def test_dcgan_follows_figure_1_of_the_paper():
    spec = archdsl.load(spec_path("dcgan"))
    s = spec.check()
    n = s["generator.z"][0]
    # Radford et al. 2016, Figure 1: z projected to 4x4x1024, then 8x8x512, 16x16x256, 32x32x128, 64x64x3
    assert s["generator.bn"] == (n, 1024, 4, 4)
    ups = [s[f"generator.ups.{3 * i}"] for i in range(3)]
    assert ups == [(n, 512, 8, 8), (n, 256, 16, 16), (n, 128, 32, 32)]
    assert s["generator.out.1"] == (n, 3, 64, 64)
    g = spec.graph
    assert [g.node(f"generator.ups.{3 * i + 1}").op.name for i in range(3)] == ["batchnorm2d"] * 3
    # discriminator: LeakyReLU 0.2 everywhere, batch norm on every convolution but the first
    assert [m.op.name for m in g.roots["discriminator"].children["first"].children.values()] == ["conv2d", "leaky_relu"]
    downs = [m.op.name for m in g.roots["discriminator"].children["downs"].children.values()]
    assert downs == ["conv2d", "batchnorm2d", "leaky_relu"] * 3
    assert all(g.node(nid).attrs.negative_slope == 0.2 for nid, node in g.nodes()
               if node.op is not None and node.op.name == "leaky_relu")
    assert s["discriminator.downs.6"] == (n, 1024, 4, 4) and s["discriminator.out.1"] == (n, 1)


def test_text_to_image_gan_conditions_both_networks_on_the_compressed_text():
    spec = archdsl.load(spec_path("text_to_image_gan"))
    s = spec.check()
    n = s["generator.z"][0]
    # Reed et al. 2016, Section 3.1 and 5: phi(t) is 1024-dimensional, compressed to 128 and joined to z (100)
    assert s["generator.text"] == (n, 1024) and s["generator.compress.1"] == (n, 128)
    assert s["generator.concat"] == (n, 100 + 128)
    assert s["generator.out.1"] == (n, 3, 64, 64)
    assert s["discriminator.downs.6"][2:] == (4, 4)
    assert s["discriminator.expand"] == (n, 128, 4, 4)             # replicated spatially
    assert s["discriminator.concat"] == (n, 512 + 128, 4, 4)       # depth concatenation (Section 3.1): 8 * ndf (64)
    assert spec.graph.node("discriminator.joint.0").attrs.kernel_size == 1
    assert spec.graph.node("discriminator.score.0").attrs.kernel_size == 4
    assert s["discriminator.flatten"] == (n, 1)


def test_gan_cls_discriminator_loss_weights_the_two_fakes_by_half():
    spec = archdsl.load(spec_path("text_to_image_gan"), image_size=8, ngf=4, ndf=4, text_dim=8)
    loss = spec.objective("discriminator_loss")
    real, wrong, fake = torch.tensor([[0.8]]), torch.tensor([[0.3]]), torch.tensor([[0.4]])
    want = -torch.log(real) - 0.5 * (torch.log(1 - wrong) + torch.log(1 - fake))
    torch.testing.assert_close(loss(real, wrong, fake), want.squeeze())
