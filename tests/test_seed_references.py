"""Output-level references for the zoo models that torchvision does not have (issue 16, "Honest tests").

Each test builds an archdsl model from its spec, writes an independent reference by hand in plain torch
(nn.Sequential / nn.LSTM / the paper's equations), copies the archdsl model's weights into the reference
through its state_dict (names mapped explicitly where the structures differ), feeds both the same seeded
input in eval mode and asserts that the outputs are close. A model that computes the wrong thing (another
activation, a missing residual, another pooling, a softmax over the wrong dim, a transposed weight) fails;
`test_mutation_is_caught` proves it for a few behaviour-changing edits of the spec text.

The references never read generated source: only the state_dict (whose keys are stable) and forward outputs.
Sizes not given by a paper come "from the spec's params" and are small overrides so the file runs quickly.

Tolerances: float32 throughout. Where the reference runs the very same torch kernels in the same order
(nn.Sequential, nn.LSTM) the default float32 tolerance of assert_close (rtol 1.3e-6, atol 1e-5) is used.
Where the reference writes equations whose reductions are ordered differently (einsum vs matmul, explicit
gates, recurrences over several steps), rounding differs by a few ulps per op and compounds over steps:
rtol 1e-4 / atol 1e-5 there (`LOOSE`), still orders of magnitude below any of the mutations' effects.
"""
from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archdsl
from tests.helpers import spec_path

# float32 equations evaluated in another order than the generated code: see the module docstring
LOOSE = dict(rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------
# helpers

def build(name_or_path: str, model: str | None = None, **params) -> nn.Module:
    """The archdsl model, seeded, with every constant-initialised tensor randomised, in eval mode."""
    path = name_or_path if name_or_path.endswith(".yaml") else spec_path(name_or_path)
    spec = archdsl.load(path, **params)
    torch.manual_seed(0)
    net = spec.build(model)
    randomize_constants(net)
    return net.eval()


def randomize_constants(net: nn.Module) -> None:
    """Batch norm's weight 1 / bias 0 / running statistics 0, 1 and zero-initialised learned tensors would make
    a wrong use of them invisible: give every float tensor that is constant at initialisation random values."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.is_floating_point() or t.numel() == 0:
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)          # a variance must be positive
            elif t.numel() == 1 or bool((t == t.flatten()[0]).all()):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.5 + (1.0 if name.endswith("bn.weight") else 0.0))


def take(sd: dict, prefix: str) -> dict:
    """The entries of `sd` under `prefix.`, with the prefix removed."""
    return {k[len(prefix) + 1:]: v for k, v in sd.items() if k.startswith(prefix + ".")}


def load_renamed(ref: nn.Module, sd: dict, renames: dict) -> nn.Module:
    """Load `sd` into `ref`, renaming key prefixes (archdsl prefix -> reference prefix); strict, so that every
    weight of either side is used exactly once."""
    out = {}
    for k, v in sd.items():
        for old, new in renames.items():
            if k == old or k.startswith(old + "."):
                k = new + k[len(old):]
                break
        out[k] = v
    ref.load_state_dict(out, strict=True)
    return ref.eval()


# ---------------------------------------------------------------------------------------------------------
# convolutional and fully connected classifiers

def check_lenet5(path=spec_path("lenet5")):
    net = build(path)
    # LeCun et al. 1998, section II.B: C1 6@28x28 (5x5), S2 2x2 subsampling, C3 16@10x10 (5x5), S4 2x2,
    # C5 120 (5x5), F6 84, output 10 classes (num_classes from the spec's params). Squashing: tanh, S2/S4 plain
    # averages and a linear output layer are the spec's documented simplifications.
    ref = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),            # 0 c1, 2 s2
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),           # 3 c3, 5 s4
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),            # 6 c5
        nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))          # 9 f6, 11 output
    load_renamed(ref, net.state_dict(), {"c1": "0", "c3": "3", "c5": "6", "f6": "9", "output": "11"})
    torch.manual_seed(2)
    x = torch.randn(3, 1, 32, 32)                                  # 32x32: the paper's padded input field
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref(x))


def test_lenet5():
    check_lenet5()


def test_zfnet():
    # Zeiler & Fergus 2014, Figure 3: 96 7x7/2 -> 3x3/2 max pool -> contrast norm -> 256 5x5/2 -> pool -> norm
    # -> 384, 384, 256 3x3 -> 3x3/2 pool -> 4096 -> 4096 -> classes. Padding 1 on conv1, ceil_mode on the
    # first two pools and the LRN constants (AlexNet's) are the spec's stated choices; 7 classes from the
    # spec's params (smaller than 1000 only to save time).
    net = build("zfnet", num_classes=7)
    lrn = lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)   # noqa: E731
    features = nn.Sequential(
        nn.Conv2d(3, 96, 7, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True), lrn(),
        nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True), lrn(),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
    classifier = nn.Sequential(nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Dropout(0.5),
                               nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 7))
    ref = nn.Sequential()
    ref.features, ref.flatten, ref.classifier = features, nn.Flatten(), classifier
    load_renamed(ref, net.state_dict(), {})
    torch.manual_seed(2)
    x = torch.randn(1, 3, 224, 224)                                # the paper's 224x224 crops
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref.eval()(x))


@pytest.mark.parametrize("activation, module", [
    ("relu", nn.ReLU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid), ("gelu", nn.GELU),
    ("leaky_relu", nn.LeakyReLU)])   # leaky_relu's default slope 0.01 is torch's (docs/ops.md, leaky_relu)
def test_mlp(activation, module):
    # the spec's params: 784 inputs, hidden [512, 256, 128], 10 classes; a nonlinearity after every hidden layer
    net = build("mlp", activation=activation)
    widths = [784, 512, 256, 128]
    features = nn.Sequential(*[m for a, b in zip(widths, widths[1:]) for m in (nn.Linear(a, b), module())])
    ref = nn.Sequential()
    ref.features, ref.classifier = features, nn.Linear(128, 10)
    load_renamed(ref, net.state_dict(), {})
    torch.manual_seed(2)
    x = torch.randn(4, 784)
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref(x))


def test_conv_basics():
    # Dumoulin & Visin 2016, relationships 1-6 as the spec writes them: SAME 3x3 (28), VALID 5x5 (24),
    # 2x2 max pool (12), SAME 3x3/2 with padding 1 (6), VALID 3x3/2 (2), then 64*2*2 -> 10.
    net = build("conv_basics")
    ref = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, stride=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(256, 10))
    load_renamed(ref, net.state_dict(), {"conv1": "0", "conv2": "2", "conv3": "5", "conv4": "7", "fc": "10"})
    torch.manual_seed(2)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref(x))


# ---------------------------------------------------------------------------------------------------------
# the recurrent family: one parametrized test, a hand-written reference per model

def ref_rnn_elman(sd, p, x):
    # Elman 1990 (the spec's comment): h_t = tanh(W x_t + U h_(t-1) + b), y_t = V h_t + c, h_0 = 0;
    # nn.RNNCell keeps two biases b_ih + b_hh, which the equation adds.
    W, U = sd["step.cell.weight_ih"], sd["step.cell.weight_hh"]
    b = sd["step.cell.bias_ih"] + sd["step.cell.bias_hh"]
    V, c = sd["step.out.weight"], sd["step.out.bias"]
    h = x.new_zeros(x.shape[0], U.shape[0])
    ys = []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W.T + h @ U.T + b)
        ys.append(h @ V.T + c)
    return torch.stack(ys, 1), h


def ref_rnn_fused(sd, p, x):
    ref = nn.Module()
    ref.rnn = nn.RNN(p["features"], p["hidden"], num_layers=p["layers"], batch_first=True)
    ref.out = nn.Linear(p["hidden"], p["outputs"])
    load_renamed(ref, sd, {})
    hs, h = ref.rnn(x)
    return ref.out(hs), h


def _last_hidden(h, bidirectional):
    # h_n is [layers * directions, N, H], layer-major: the top layer's forward state is h[-2], its backward h[-1]
    return torch.cat([h[-2], h[-1]], dim=-1) if bidirectional else h[-1]


def ref_lstm_classifier(sd, p, tokens):
    d = 2 if p["bidirectional"] else 1
    ref = nn.Module()
    ref.embed = nn.Embedding(p["vocab"], p["embed"], padding_idx=0)
    ref.lstm = nn.LSTM(p["embed"], p["hidden"], num_layers=p["layers"], bidirectional=p["bidirectional"],
                       batch_first=True)
    ref.fc = nn.Linear(d * p["hidden"], p["classes"])
    load_renamed(ref, sd, {})
    _, (h, _) = ref.lstm(ref.embed(tokens))
    return torch.softmax(ref.fc(_last_hidden(h, p["bidirectional"])), dim=-1)   # probabilities over classes


def ref_stacked_lstm(sd, p, x):
    # Graves et al. 2013, eq. 11: h^n_t = H(W h^(n-1)_t + ...): each layer reads the whole sequence below it
    sizes = p["sizes"]
    ref = nn.Module()
    ref.stack = nn.ModuleList()
    for a, b in zip([p["series"]] + sizes, sizes):
        layer = nn.Module()
        layer.lstm = nn.LSTM(a, b, batch_first=True)
        ref.stack.append(layer)
    ref.head = nn.Linear(sizes[-1], p["horizon"] * p["series"])
    load_renamed(ref, sd, {})
    ys = x
    for layer in ref.stack:
        ys, _ = layer.lstm(ys)
    return ref.head(ys[:, -1]).reshape(x.shape[0], p["horizon"], p["series"])


def ref_gru(sd, p, tokens):
    d = 2 if p["bidirectional"] else 1
    ref = nn.Module()
    ref.embed = nn.Embedding(p["vocab"], p["embed"])
    ref.gru = nn.GRU(p["embed"], p["hidden"], num_layers=p["layers"], bidirectional=p["bidirectional"],
                     batch_first=True)
    ref.tagger = nn.Linear(d * p["hidden"], p["tags"])
    load_renamed(ref, sd, {})
    ys, h = ref.gru(ref.embed(tokens))
    return ref.tagger(ys), _last_hidden(h, p["bidirectional"])


def _tokens(vocab):
    # word ids with some padding (id 0: the spec's padding id) to exercise the embedding's padding row
    def make():
        t = torch.randint(1, vocab, (3, 6))
        t[0, -2:] = 0
        return t
    return make


# (spec, model, params, the archdsl defaults of the params the reference reads, input maker, reference)
RECURRENT = {
    "rnn elman": ("rnn", "elman", {}, dict(features=16, hidden=64, outputs=16),
                  lambda: torch.randn(3, 7, 16), ref_rnn_elman),
    "rnn fused, 2 layers": ("rnn", "fused", {"layers": 2}, dict(features=16, hidden=64, outputs=16, layers=2),
                            lambda: torch.randn(3, 7, 16), ref_rnn_fused),
    "lstm_classifier": ("lstm_classifier", None, {"vocab": 50},
                        dict(vocab=50, embed=128, hidden=128, layers=1, bidirectional=False, classes=2),
                        _tokens(50), ref_lstm_classifier),
    "lstm_classifier bidirectional, 2 layers": (
        "lstm_classifier", None, {"vocab": 50, "layers": 2, "bidirectional": True, "hidden": 32, "embed": 16},
        dict(vocab=50, embed=16, hidden=32, layers=2, bidirectional=True, classes=2), _tokens(50),
        ref_lstm_classifier),
    "stacked_lstm": ("stacked_lstm", None, {}, dict(series=8, sizes=[64, 64, 32], horizon=4),
                     lambda: torch.randn(3, 7, 8), ref_stacked_lstm),
    "gru bidirectional, 2 layers": ("gru", None, {"vocab": 50},
                                    dict(vocab=50, embed=64, hidden=128, layers=2, bidirectional=True, tags=17),
                                    _tokens(50), ref_gru),
    "gru one direction, 1 layer": ("gru", None, {"vocab": 50, "layers": 1, "bidirectional": False, "dropout": 0.0},
                                   dict(vocab=50, embed=64, hidden=128, layers=1, bidirectional=False, tags=17),
                                   _tokens(50), ref_gru),
}


def check_recurrent(case, path=None):
    name, model, params, p, make_input, reference = RECURRENT[case]
    net = build(path or spec_path(name), model, **params)
    torch.manual_seed(2)
    x = make_input()
    with torch.no_grad():
        got = net(x)
        want = reference(net.state_dict(), p, x)
    # nn.RNN / nn.LSTM / nn.GRU run the same kernels as the generated code; the Elman equations do not
    torch.testing.assert_close(got, want, **(LOOSE if case == "rnn elman" else {}))


@pytest.mark.parametrize("case", list(RECURRENT))
def test_recurrent(case):
    check_recurrent(case)


# ---------------------------------------------------------------------------------------------------------
# generative models

def _mlp(widths, act, last=None):
    """Linear layers between consecutive widths, `act` after each; `last` (if any) after the final one."""
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), act()]
    if last is not None:
        layers[-1] = last()
    return nn.Sequential(*layers)


def test_autoencoder():
    # Hinton & Salakhutdinov 2006, Fig. 1: 784-1000-500-250-30 logistic encoder with a linear code layer, the
    # mirrored decoder with logistic outputs (widths, code and activation from the spec's params)
    spec = archdsl.load(spec_path("autoencoder"))
    net = build("autoencoder", "autoencoder")
    enc = nn.Module()
    enc.hidden = _mlp([784, 1000, 500, 250], nn.Sigmoid)
    enc.bottleneck = nn.Linear(250, 30)
    dec = nn.Module()
    dec.hidden = _mlp([30, 250, 500, 1000], nn.Sigmoid)
    dec.out = nn.Sequential(nn.Linear(1000, 784), nn.Sigmoid())
    ref = nn.Module()
    ref.encoder, ref.decoder = enc, dec
    load_renamed(ref, net.state_dict(), {})
    torch.manual_seed(2)
    x = torch.rand(4, 784)                                         # pixel values in [0, 1]
    with torch.no_grad():
        got = net(x)
        code = enc.bottleneck(enc.hidden(x))
        want = dec.out(dec.hidden(code))
        torch.testing.assert_close(got, want)
        # the objective: binary cross-entropy averaged over pixels and the batch (the spec's `loss: bce`)
        bce = -(x * want.log() + (1 - x) * (1 - want).log()).mean()
        torch.testing.assert_close(spec.objective("reconstruction")(x, got), bce, **LOOSE)


def check_vae(path=spec_path("vae")):
    # Kingma & Welling 2014, appendix C: tanh MLPs, a Gaussian encoder q(z|x) with a mean and a log-variance
    # head (C.2) and a Bernoulli decoder (C.1); 500 hidden units for MNIST (section 5); latent 20 from the
    # spec's params
    spec = archdsl.load(path)
    net = build(path, "vae")
    enc = nn.Module()
    enc.hidden = nn.Sequential(nn.Linear(784, 500), nn.Tanh())
    enc.mu, enc.logvar = nn.Linear(500, 20), nn.Linear(500, 20)
    dec = nn.Module()
    dec.hidden = nn.Sequential(nn.Linear(20, 500), nn.Tanh())
    dec.out = nn.Sequential(nn.Linear(500, 784), nn.Sigmoid())
    ref = nn.Module()
    ref.encoder, ref.decoder = enc, dec
    load_renamed(ref, net.state_dict(), {})
    torch.manual_seed(2)
    x = torch.rand(4, 784)
    with torch.no_grad():
        x_hat, mu, logvar = net(x)
        h = enc.hidden(x)
        want_mu, want_logvar = enc.mu(h), enc.logvar(h)
        # eval mode: eps = 0, so z = mu (docs/ops.md, reparameterize)
        torch.testing.assert_close((x_hat, mu, logvar), (dec.out(dec.hidden(want_mu)), want_mu, want_logvar))
        # -ELBO (eq. 10 with the KL term of appendix B), summed over pixels / latent dims, averaged over the batch:
        #   -sum x log x_hat + (1 - x) log(1 - x_hat)   and   -1/2 sum (1 + log sigma^2 - mu^2 - sigma^2)
        n = x.shape[0]
        rec = -(x * x_hat.log() + (1 - x) * (1 - x_hat).log()).sum() / n
        kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum() / n
        torch.testing.assert_close(tuple(spec.objective("neg_elbo")(x, x_hat, mu, logvar)), (rec + kl, rec, kl),
                                   **LOOSE)


def test_vae():
    check_vae()


def test_vae_samples_with_the_reparameterization_trick():
    """Training mode draws z = mu + sigma * eps, sigma = exp(logvar / 2), eps ~ N(0, I) (Kingma & Welling 2014,
    section 2.4 and eq. 10). The noise is archdsl's own, so the test recovers eps = (z - mu) / sigma from the z
    the decoder receives and checks that it is standard normal."""
    net = build("vae", "vae")
    with torch.no_grad():
        net.encoder.logvar.bias.fill_(2.0)     # sigma around e: exp(logvar) or no 1/2 would be far off
    seen = []
    net.decoder.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    net.train()
    torch.manual_seed(2)
    x = torch.rand(512, 784)
    with torch.no_grad():
        _, mu, logvar = net(x)
    eps = (seen[0] - mu) / torch.exp(logvar / 2)
    # 512 x 20 = 10,240 draws: the standard error of the mean is 1 / sqrt(10240) ~ 0.01 and that of the standard
    # deviation ~ 0.007, so 0.05 is 5 or more standard errors; sigma = exp(logvar) would give std ~ 1/e.
    assert abs(eps.mean().item()) < 0.05
    assert abs(eps.std().item() - 1) < 0.05


def test_gan():
    # Goodfellow et al. 2014 with the spec's choices: G 100 -> 256 -> 512 -> 1024 (ReLU) -> 784 sigmoid,
    # D 784 -> 1024 -> 512 -> 256 (LeakyReLU 0.2, dropout 0.3) -> 1 sigmoid (widths from the spec's params)
    spec = archdsl.load(spec_path("gan"))
    net = build("gan", "gan")
    gen = nn.Module()
    gen.hidden = _mlp([100, 256, 512, 1024], nn.ReLU)
    gen.out = nn.Sequential(nn.Linear(1024, 784), nn.Sigmoid())
    disc = nn.Module()
    disc.hidden = nn.Sequential(*[m for a, b in [(784, 1024), (1024, 512), (512, 256)]
                                  for m in (nn.Linear(a, b), nn.LeakyReLU(0.2), nn.Dropout(0.3))])
    disc.out = nn.Sequential(nn.Linear(256, 1), nn.Sigmoid())
    ref = nn.Module()
    ref.generator, ref.discriminator = gen, disc
    load_renamed(ref, net.state_dict(), {})
    torch.manual_seed(2)
    z, x = torch.randn(4, 100), torch.rand(4, 784)
    with torch.no_grad():
        d_fake = net(z)
        want_fake = disc.out(disc.hidden(gen.out(gen.hidden(z))))
        torch.testing.assert_close(d_fake, want_fake)
        d_real = net.discriminator(x)
        torch.testing.assert_close(d_real, disc.out(disc.hidden(x)))
        # eq. 1: D ascends log D(x) + log(1 - D(G(z))); the non-saturating G ascends log D(G(z)) (section 3)
        torch.testing.assert_close(spec.objective("discriminator_loss")(d_real, d_fake),
                                   -(d_real.log().mean() + (1 - d_fake).log().mean()), **LOOSE)
        torch.testing.assert_close(spec.objective("generator_loss")(d_fake), -d_fake.log().mean(), **LOOSE)


def _dcgan_generator(noise, ngf, levels, channels, text=None):
    # Radford et al. 2016, section 3 and Figure 1: project z to 4x4 x base, batch norm + ReLU, stride-2
    # fractionally-strided convolutions halving the channels with batch norm + ReLU, a tanh output layer;
    # 4x4 kernels with padding 1 (the spec's `kernel` param: (4 - 1) // 2 = 1, output_padding 0)
    base = ngf * 2 ** (levels - 1)
    g = nn.Module()
    if text is not None:
        g.compress = nn.Sequential(nn.Linear(text[0], text[1]), nn.LeakyReLU(0.2))
    g.project = nn.Linear(noise + (text[1] if text else 0), base * 16, bias=False)
    g.bn = nn.BatchNorm2d(base)
    g.ups = nn.Sequential(*[m for i in range(levels - 2, -1, -1)
                            for m in (nn.ConvTranspose2d(ngf * 2 ** (i + 1), ngf * 2 ** i, 4, 2, 1, bias=False),
                                      nn.BatchNorm2d(ngf * 2 ** i), nn.ReLU())])
    g.out = nn.Sequential(nn.ConvTranspose2d(ngf, channels, 4, 2, 1), nn.Tanh())

    def forward(z, t=None):
        if text is not None:
            z = torch.cat([z, g.compress(t)], dim=1)
        h = F.relu(g.bn(g.project(z).reshape(-1, base, 4, 4)))
        return g.out(g.ups(h))
    return g, forward


def _dcgan_downs(ndf, levels, channels):
    # section 3: strided convolutions, batch norm on all but the first layer; LeakyReLU slope 0.2 (section 4)
    first = nn.Sequential(nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2))
    downs = nn.Sequential(*[m for i in range(1, levels)
                            for m in (nn.Conv2d(ndf * 2 ** (i - 1), ndf * 2 ** i, 4, 2, 1, bias=False),
                                      nn.BatchNorm2d(ndf * 2 ** i), nn.LeakyReLU(0.2))])
    return first, downs


# 16x16 images (levels 2: 16 -> 8 -> 4), ngf = ndf = 8: small overrides of the spec's params
SMALL_GAN = dict(image_size=16, ngf=8, ndf=8)


def check_dcgan(path=spec_path("dcgan")):
    net = build(path, "gan", **SMALL_GAN)
    gen, generate = _dcgan_generator(100, 8, 2, 3)
    disc = nn.Module()
    disc.first, disc.downs = _dcgan_downs(8, 2, 3)
    disc.out = nn.Sequential(nn.Linear(16 * 4 * 4, 1), nn.Sigmoid())
    ref = nn.Module()
    ref.generator, ref.discriminator = gen, disc
    load_renamed(ref, net.state_dict(), {})
    torch.manual_seed(2)
    z = torch.rand(3, 100) * 2 - 1                               # a 100-d uniform z (Figure 1's caption)
    with torch.no_grad():
        image = generate(z)
        torch.testing.assert_close(net.generator(z), image, **LOOSE)
        score = disc.out(disc.downs(disc.first(image)).flatten(1))
        torch.testing.assert_close(net(z), score, **LOOSE)


def test_dcgan():
    check_dcgan()


def test_text_to_image_gan():
    # Reed et al. 2016, section 4.1: phi(t) compressed by a fully connected layer + leaky ReLU, concatenated to z
    # in G; in D, replicated spatially at 4x4, depth-concatenated, a 1x1 convolution + rectification, then a
    # 4x4 convolution to the score. Sizes small overrides of the spec's params.
    params = dict(SMALL_GAN, text_dim=32, text_code=8)
    net = build("text_to_image_gan", "gan", **params)
    gen, generate = _dcgan_generator(100, 8, 2, 3, text=(32, 8))
    disc = nn.Module()
    disc.first, disc.downs = _dcgan_downs(8, 2, 3)
    disc.compress = nn.Sequential(nn.Linear(32, 8), nn.LeakyReLU(0.2))
    disc.joint = nn.Sequential(nn.Conv2d(16 + 8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.LeakyReLU(0.2))
    disc.score = nn.Sequential(nn.Conv2d(16, 1, 4), nn.Sigmoid())
    ref = nn.Module()
    ref.generator, ref.discriminator = gen, disc
    load_renamed(ref, net.state_dict(), {})
    torch.manual_seed(2)
    z, text = torch.randn(3, 100), torch.randn(3, 32)
    with torch.no_grad():
        image = generate(z, text)
        torch.testing.assert_close(net.generator(z, text), image, **LOOSE)
        h = disc.downs(disc.first(image))
        code = disc.compress(text)[:, :, None, None].expand(-1, -1, 4, 4)
        score = disc.score(disc.joint(torch.cat([h, code], dim=1))).flatten(1)
        torch.testing.assert_close(net(z, text), score, **LOOSE)


# ---------------------------------------------------------------------------------------------------------
# capsules and memory

def squash(s, dim=-1):
    # Sabour et al. 2017, eq. 1: v = |s|^2 / (1 + |s|^2) * s / |s|
    n2 = (s * s).sum(dim, keepdim=True)
    return n2 / (1 + n2) * s / n2.sqrt()


def check_capsnet(path=spec_path("capsnet")):
    # Sabour et al. 2017, section 4: Conv1 256 9x9 stride 1 + ReLU; PrimaryCaps 32 channels of 8D capsules,
    # 9x9 stride 2 (a 6x6 grid: 1152 capsules); DigitCaps 16D per class, u_hat_j|i = W_ij u_i (eq. 2);
    # 3 routing iterations (Procedure 1); decoder 512 -> 1024 -> 784 (Figure 2). All from the spec's params.
    net = build(path)
    sd = net.state_dict()
    conv1, primary = nn.Conv2d(1, 256, 9), nn.Conv2d(256, 256, 9, stride=2)
    conv1.load_state_dict(take(sd, "conv1"))
    primary.load_state_dict(take(sd, "primary"))
    W = sd["digit.weight"]                                         # [i=1152, j=10, 16, 8]
    decoder = nn.Sequential(nn.Linear(160, 512), nn.ReLU(), nn.Linear(512, 1024), nn.ReLU(),
                            nn.Linear(1024, 784), nn.Sigmoid())
    decoder.load_state_dict(take(sd, "reconstruct"))
    torch.manual_seed(2)
    n = 2
    x = torch.rand(n, 1, 28, 28)
    y = F.one_hot(torch.tensor([3, 7]), 10).float()
    with torch.no_grad():
        got = net(x, y)
        # the paper does not fix how the 256 PrimaryCaps channels group into 32 x 8D capsules; the spec's
        # reshape takes 8 consecutive channels per capsule channel, and so does this reference
        p = primary(F.relu(conv1(x))).reshape(n, 32, 8, 6, 6)
        u = squash(p.permute(0, 1, 3, 4, 2).reshape(n, 1152, 8))
        u_hat = torch.einsum("ijdk,nik->nijd", W, u)             # eq. 2
        b = torch.zeros(n, 1152, 10)
        for _ in range(3):                                         # Procedure 1
            c = torch.softmax(b, dim=2)                            # line 4: softmax over the parents j
            s = (c[..., None] * u_hat).sum(1)                      # line 5: s_j = sum_i c_ij u_hat_j|i
            v = squash(s)                                          # line 6
            b = b + (u_hat * v[:, None]).sum(-1)                   # line 7: b_ij += u_hat_j|i . v_j
        lengths = v.norm(dim=-1)                                   # section 2: the length is the probability
        recon = decoder((v * y[..., None]).flatten(1))             # section 4.1: all but the true capsule masked
    torch.testing.assert_close(got, (lengths, recon), **LOOSE)


def test_capsnet():
    check_capsnet()


def test_memnn():
    # Weston et al. 2015, section 2 and 3.1 (the spec's comment): G writes fact i to slot i; O picks k = 2
    # supporting memories, o_1 = argmax_i s_O(q, m_i), o_2 = argmax_i s_O([q, m_o1], m_i) with
    # s_O(x, m) = (U x)^T (U m), U split per feature block; R scores every word w with s_R([q, m_o1, m_o2], w).
    net = build("memnn")
    sd = net.state_dict()
    Uq, Uc, Us = sd["question_o.weight"], sd["candidate.weight"], sd["pick.support.weight"]
    Rq, Rs, Rw = sd["question_r.weight"], sd["support_r.weight"], sd["words.weight"]
    torch.manual_seed(2)
    n, slots, vocab = 3, 5, 12                                     # vocab 12 from the spec's params
    facts = torch.bernoulli(torch.full((n, slots, vocab), 0.4))    # binary bags of words
    question = torch.bernoulli(torch.full((n, vocab), 0.4))
    assert all(len({tuple(f.tolist()) for f in story}) == slots for story in facts), "distinct facts: no ties"
    with torch.no_grad():
        scores, answer, chosen, addresses = net(facts, question)
        memory = facts                                             # G: slot i holds fact i, unchanged
        keys = memory @ Uc.T
        z = question @ Uq.T
        picked = torch.zeros(n, vocab)
        want_chosen = torch.zeros(n, slots)
        for _ in range(2):                                         # k = 2 supporting memories
            o = torch.einsum("nsd,nd->ns", keys, z).argmax(-1)
            m = memory[torch.arange(n), o]
            z, picked = z + m @ Us.T, picked + m
            want_chosen[torch.arange(n), o] += 1
        want = (question @ Rq.T + picked @ Rs.T) @ Rw.T
    torch.testing.assert_close(scores, want, **LOOSE)
    torch.testing.assert_close(answer, want.argmax(-1))
    torch.testing.assert_close(chosen, want_chosen)
    # the write addresses: step t writes slot t (one-hot), stacked over the steps
    torch.testing.assert_close(addresses, torch.eye(slots).expand(n, slots, slots))


def position_weights(J, d):
    # Sukhbaatar et al. 2015, section 4.1: l_kj = (1 - j/J) - (k/d)(1 - 2j/J), j = 1..J words, k = 1..d entries
    j = torch.arange(1, J + 1, dtype=torch.float32)[:, None]
    k = torch.arange(1, d + 1, dtype=torch.float32)[None, :]
    return (1 - j / J) - (k / d) * (1 - 2 * j / J)                 # [J, d]


MEMN2N = dict(memory_size=6)   # 6 sentences in memory: a small override of the spec's params (V 40, d 20, K 3)


def check_memn2n(tying, path=spec_path("memn2n")):
    net = build(path, tying=tying, **MEMN2N)
    sd = net.state_dict()
    V, d, K, S, J, n = 40, 20, 3, 6, 5, 3
    tables = K + 1 if tying == "adjacent" else 2
    E = sd["embed.weight"].reshape(tables, d, V)                   # E_t x: the story embeddings side by side
    T = sd["temporal.value"]                                       # [S, tables, d]: T_A(i), T_C(i) per table
    torch.manual_seed(2)
    story = F.one_hot(torch.randint(0, V, (n, S, J)), V).float()
    query = F.one_hot(torch.randint(0, V, (n, J)), V).float()
    l = position_weights(J, d)
    with torch.no_grad():
        got = net(story, query)

        def memories(t):                                           # m_i = sum_j l_j . E_t x_ij + T_t(i)
            return torch.einsum("nsjv,dv,jd->nsd", story, E[t], l) + T[:, t]
        B = E[0] if tying == "adjacent" else sd["embed_query.weight"]
        u = torch.einsum("njv,dv,jd->nd", query, B, l)             # u = sum_j l_j . B q_j (section 2.1, 4.1)
        for k in range(K):
            # adjacent (section 2.2): A^(k+1) = C^k, so hop k reads A = E_k, C = E_(k+1); layerwise: A, C fixed
            a, c = (k, k + 1) if tying == "adjacent" else (0, 1)
            m, cv = memories(a), memories(c)
            p = torch.softmax(torch.einsum("nsd,nd->ns", m, u), dim=-1)   # eq. 1: p_i = softmax(u^T m_i)
            o = torch.einsum("ns,nsd->nd", p, cv)                          # eq. 2: o = sum_i p_i c_i
            u = (u if tying == "adjacent" else u @ sd["hop.H.weight"].T) + o   # u^(k+1) = u^k (or H u^k) + o^k
        # eq. 3: a_hat = softmax(W (o^K + u^K)); adjacent: W^T = C^K = E_K; the model returns the logits
        want = u @ E[K] if tying == "adjacent" else u @ sd["answer.weight"].T
    torch.testing.assert_close(got, want, **LOOSE)


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
def test_memn2n(tying):
    check_memn2n(tying)


NTM = dict(controller_size=12, memory_n=16, memory_m=6)   # small overrides of the spec's params (shift_range 1)


def ntm_reference(sd, x):
    """Graves et al. 2014: the LSTM controller, then per head content addressing (eqs. 5, 6), interpolation
    (eq. 7), circular shift (eq. 8), sharpening (eq. 9); reading (eq. 2), erasing (eq. 3), adding (eq. 4). The
    head activations (tanh key, softplus beta >= 0, sigmoid g, softmax shift, gamma = 1 + softplus >= 1) meet
    the paper's constraints and are the spec's choices."""
    def lin(name, v):
        return v @ sd[name + ".weight"].T + sd[name + ".bias"]

    def address(head, h, memory, w_prev):
        k = torch.tanh(lin(head + ".key", h))
        beta = F.softplus(lin(head + ".strength", h))
        g = torch.sigmoid(lin(head + ".gate", h))
        s = torch.softmax(lin(head + ".shift", h), dim=-1)         # weights of the shifts -1, 0, +1
        gamma = 1 + F.softplus(lin(head + ".focus", h))
        # eq. 6: K[u, v] = u.v / (|u| |v|)
        cos = (memory @ k[:, :, None])[..., 0] / (memory.norm(dim=-1) * k.norm(dim=-1, keepdim=True))
        w = torch.softmax(beta * cos, dim=-1)                      # eq. 5
        w = g * w + (1 - g) * w_prev                               # eq. 7
        # eq. 8: w~(i) = sum_j w(j) s(i - j), indices modulo N; torch.roll(w, k)[i] = w[i - k]
        w = sum(s[:, r:r + 1] * torch.roll(w, shifts=r - 1, dims=-1) for r in range(3))
        w = w ** gamma
        return w / w.sum(-1, keepdim=True)                          # eq. 9

    n = x.shape[0]
    h, c = sd["h0.value"].expand(n, -1), sd["c0.value"].expand(n, -1)
    memory = sd["memory0.value"].expand(n, -1, -1)
    r = sd["read0.value"].expand(n, -1)
    w_read = w_write = torch.softmax(sd["w0.value"], -1).expand(n, -1)
    ys = []
    for t in range(x.shape[1]):
        z = torch.cat([x[:, t], r, h], dim=1)                     # the controller reads x_t, r_(t-1), h_(t-1)
        gate = lambda name: lin("step.controller." + name, z)     # noqa: E731
        c = torch.sigmoid(gate("forget_gate")) * c + torch.sigmoid(gate("input_gate")) * torch.tanh(gate("cell_input"))
        h = torch.sigmoid(gate("output_gate")) * torch.tanh(c)
        w_read = address("step.read_head", h, memory, w_read)
        r = torch.einsum("ni,nim->nm", w_read, memory)             # eq. 2
        w_write = address("step.write_head", h, memory, w_write)
        e, a = torch.sigmoid(lin("step.erase", h)), torch.tanh(lin("step.add", h))
        memory = memory * (1 - w_write[:, :, None] * e[:, None]) + w_write[:, :, None] * a[:, None]  # eqs. 3, 4
        ys.append(lin("step.out", torch.cat([h, r], dim=1)))
    return torch.stack(ys, 1)


def check_ntm(path=spec_path("ntm")):
    net = build(path, **NTM)
    torch.manual_seed(2)
    x = torch.bernoulli(torch.full((3, 5, 9), 0.5))                # copy task bits: 8 + a delimiter channel
    with torch.no_grad():
        torch.testing.assert_close(net(x), ntm_reference(net.state_dict(), x), **LOOSE)


def test_ntm():
    check_ntm()


# ---------------------------------------------------------------------------------------------------------
# attention decoders: teacher forcing (a scan over the given tokens) and greedy decoding

def teacher_and_greedy(path, greedy: str, **params):
    """The teacher-forced network and its greedy decoder: one model and its method `greedy`, one set of weights."""
    net = build(path, **params)
    return net, getattr(net, greedy)


def greedy_reference(step, state, start, max_len, eos):
    """Greedy decoding (docs/language.md, decode): feed back the argmax of each step's logits; after <eos> a
    sequence only repeats it. Returns the tokens, the per-step attention and whether each step is at or before
    the sequence's first <eos> (where the model's output is fully determined)."""
    token, done = start, torch.zeros_like(start, dtype=torch.bool)
    tokens, attns, live = [], [], []
    for _ in range(max_len):
        logits, attn, state = step(token, state)
        token = torch.where(done, torch.full_like(token, eos), logits.argmax(-1))
        live.append(~done)
        done = done | (token == eos)
        tokens.append(token)
        attns.append(attn)
    return torch.stack(tokens, 1), torch.stack(attns, 1), torch.stack(live, 1)


def make_eos_reachable(net, bias_key, run_reference, eos=2):
    """Untrained weights rarely emit <eos>: scale the weights up (a livelier network) and raise the <eos>
    logit's bias until the reference decoder ends a sequence after its first step and before max_len, so that
    the stopping rule is exercised. Leaves those weights in `net`; returns the reference's greedy output."""
    sd = net.state_dict()
    original = {k: v.clone() for k, v in sd.items()}
    for gain in (1.0, 2.0, 3.0):
        for delta in torch.linspace(0, 5, 51).tolist():
            with torch.no_grad():
                for k, v in sd.items():
                    v.copy_(original[k] * gain if v.is_floating_point() and "running_var" not in k else original[k])
                sd[bias_key][eos] += delta
            want = run_reference()
            live = want[2]
            if (live[:, 1] & ~live[:, -1]).any():      # a sequence that emits <eos> after its first step
                return want
    raise AssertionError("no gain and <eos> bias end a sequence early: choose another seed")


def compare_greedy(got_tokens, got_attn, want_tokens, want_attn, live):
    steps = got_tokens.shape[1]          # decoding may stop early once every sequence has emitted <eos>
    assert steps >= 1 and not live[:, steps:].any(), "stopped before every sequence emitted <eos>"
    torch.testing.assert_close(got_tokens, want_tokens[:, :steps])
    mask = live[:, :steps]
    torch.testing.assert_close(got_attn[mask], want_attn[:, :steps][mask], **LOOSE)


SEQ2SEQ = dict(embed=16, hidden=24)    # small overrides of the spec's params (vocabularies 13, 2 layers)


def seq2seq_reference(sd):
    """Luong et al. 2015, section 3 with input feeding (3.3): a 2-layer LSTM encoder; a 2-layer LSTM decoder
    reading [embedding of y_(t-1); h~_(t-1)]; the `general` score h_t^T W_a h_s (eq. 8), a softmax over the
    source positions that ignores padding (eq. 7), c_t = sum_s a_t(s) h_s, h~_t = tanh(W_c [c_t; h_t])
    (eq. 5) and the logits W_s h~_t (eq. 6)."""
    E, H, L, V = 16, 24, 2, 13
    ref = nn.Module()
    ref.src_embed = nn.Embedding(V, E)
    ref.encoder = nn.LSTM(E, H, L, batch_first=True)
    dec = ref.decoder = nn.Module()
    dec.embed = nn.Embedding(V, E)
    dec.lstm = nn.LSTM(E + H, H, L, batch_first=True)
    dec.out = nn.Linear(H, V)
    # general_score is nn.Linear(H, H) applied to h_t: its weight [out, in] is the paper's W_a transposed
    W_a = sd["decoder.score.weight"].T
    W_c = sd["decoder.combine.weight"]                             # [H, 2H]: no bias in eq. 5
    load_renamed(ref, {k: v for k, v in sd.items() if k not in ("decoder.score.weight", "decoder.combine.weight")},
                 {})

    def encode(src):
        memory, (h, c) = ref.encoder(ref.src_embed(src))
        return memory, src != 0, (torch.zeros(src.shape[0], H), h, c)   # pad id 0 (the spec's params)

    def step(token, state, memory, mask):
        feed, h, c = state
        y, (h, c) = dec.lstm(torch.cat([dec.embed(token), feed], dim=1)[:, None], (h, c))
        h_t = y[:, 0]
        score = torch.einsum("nd,de,nse->ns", h_t, W_a, memory)
        a = torch.softmax(score.masked_fill(~mask, float("-inf")), dim=-1)
        ctx = torch.einsum("ns,nsd->nd", a, memory)
        feed = torch.tanh(torch.cat([ctx, h_t], dim=1) @ W_c.T)
        return dec.out(feed), a, (feed, h, c)
    return encode, step


def check_seq2seq(path=spec_path("seq2seq_attention")):
    net, translate = teacher_and_greedy(path, "translate", **SEQ2SEQ)
    encode, step = seq2seq_reference(net.state_dict())
    torch.manual_seed(2)
    src = torch.randint(3, 13, (3, 6))
    src[0, -2:] = 0                                                # padding the attention must ignore
    src[1, -1] = 0
    tgt = torch.cat([torch.ones(3, 1, dtype=torch.long), torch.randint(3, 13, (3, 4))], 1)   # <bos> y_1..y_4
    with torch.no_grad():
        logits, attn = net(src, tgt)
        memory, mask, state = encode(src)
        want_logits, want_attn = [], []
        for t in range(tgt.shape[1]):
            out, a, state = step(tgt[:, t], state, memory, mask)
            want_logits.append(out)
            want_attn.append(a)
        torch.testing.assert_close((logits, attn), (torch.stack(want_logits, 1), torch.stack(want_attn, 1)),
                                   **LOOSE)
        # greedy decoding from <bos> = 1, <eos> = 2, max_len 14 (the spec's params)
        def reference():
            encode, step = seq2seq_reference(net.state_dict())
            memory, mask, state = encode(src)
            return greedy_reference(lambda tok, st: step(tok, st, memory, mask), state,
                                    torch.ones(3, dtype=torch.long), 14, 2)
        want = make_eos_reachable(net, "decoder.out.bias", reference)
        tokens, attn = translate(src)
        compare_greedy(tokens, attn, *want)


def test_seq2seq_attention():
    check_seq2seq()


# 16x16 images through two stages [1 conv of 4, pool, 1 conv of 8]: an 8x8 grid of L = 64 annotations of D = 8;
# vocab 30, embed/hidden 16, attention 8: small overrides of the spec's params (the paper's VGG-19 is the default)
SAT = dict(vocab=30, embed=16, hidden=16, att_units=8, convs=[1, 1], widths=[4, 8], image_size=16, max_len=6)


def show_attend_tell_reference(sd):
    """Xu et al. 2015: annotations a_i from the last convolutional layer (section 3.1.1); h_0, c_0 = tanh of
    f_init_h / f_init_c of the mean annotation (section 3.1.2); the alignment MLP e_ti = v^T tanh(W h_(t-1) +
    U a_i + b) and alpha = softmax over the L locations (eqs. 4, 5); z = beta * sum_i alpha_i a_i with the
    gate beta = sigmoid(f_beta(h_(t-1))) (section 4.2.1); the LSTM reads [E y_(t-1); z] (eq. 1) and the deep
    output layer gives L_o(E y_(t-1) + L_h h_t + L_z z_t) (eq. 7)."""
    ref = nn.Module()
    enc = ref.encoder = nn.Module()
    enc.cnn = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                            nn.Conv2d(4, 8, 3, padding=1), nn.ReLU())
    enc.init_h, enc.init_c = nn.Linear(8, 16), nn.Linear(8, 16)
    dec = ref.decoder = nn.Module()
    dec.embed = nn.Embedding(30, 16)
    dec.lstm = nn.LSTMCell(16 + 8, 16)
    dec.f_beta, dec.L_h, dec.L_z, dec.L_o = nn.Linear(16, 1), nn.Linear(16, 16), nn.Linear(8, 16), nn.Linear(16, 30)
    att = take(sd, "decoder.f_att")                                # W (query), U and b (key), v
    load_renamed(ref, {k: v for k, v in sd.items() if not k.startswith("decoder.f_att.")}, {})

    def encode(image):
        fmap = enc.cnn(image)
        annotations = fmap.flatten(2).transpose(1, 2)              # [N, L, D]
        mean = annotations.mean(1)
        return annotations, (torch.tanh(enc.init_h(mean)), torch.tanh(enc.init_c(mean)))

    def step(word, state, annotations):
        h, c = state
        e = dec.embed(word)
        scores = torch.tanh((h @ att["query.weight"].T)[:, None] + annotations @ att["key.weight"].T
                            + att["key.bias"]) @ att["v.weight"][0]
        alpha = torch.softmax(scores, dim=-1)
        z = torch.sigmoid(dec.f_beta(h)) * torch.einsum("nl,nld->nd", alpha, annotations)
        h, c = dec.lstm(torch.cat([e, z], dim=1), (h, c))
        return dec.L_o(e + dec.L_h(h) + dec.L_z(z)), alpha, (h, c)
    return encode, step


def test_show_attend_tell():
    net, caption = teacher_and_greedy(spec_path("show_attend_tell"), "caption", **SAT)
    encode, step = show_attend_tell_reference(net.state_dict())
    torch.manual_seed(2)
    image = torch.randn(2, 3, 16, 16)
    words = torch.cat([torch.ones(2, 1, dtype=torch.long), torch.randint(3, 30, (2, 3))], 1)   # <bos> w_1..w_3
    with torch.no_grad():
        logits, alphas = net(image, words)
        annotations, state = encode(image)
        want_logits, want_alphas = [], []
        for t in range(words.shape[1]):
            out, a, state = step(words[:, t], state, annotations)
            want_logits.append(out)
            want_alphas.append(a)
        torch.testing.assert_close((logits, alphas), (torch.stack(want_logits, 1), torch.stack(want_alphas, 1)),
                                   **LOOSE)
        # greedy captioning from <bos> = 1 until <eos> = 2 or max_len (the spec's params)
        def reference():
            encode, step = show_attend_tell_reference(net.state_dict())
            annotations, state = encode(image)
            return greedy_reference(lambda w, st: step(w, st, annotations), state,
                                    torch.ones(2, dtype=torch.long), SAT["max_len"], 2)
        want = make_eos_reachable(net, "decoder.L_o.bias", reference)
        got_words, got_alphas = caption(image)
        compare_greedy(got_words, got_alphas, *want)


# ---------------------------------------------------------------------------------------------------------
# the references catch a wrong model: each edit keeps the spec valid (same shapes, same state_dict keys) but
# changes what it computes, and must make its reference test fail

# name: (spec, text in it, replacement, how many times the text occurs, the check run on the mutated copy)
MUTATIONS = {
    "lenet5: max instead of average subsampling in S2": (
        "lenet5", "s2: avgpool2d(2)", "s2: maxpool2d(2)", 1, check_lenet5),
    "lstm_classifier: softmax over the batch instead of the classes": (
        "lstm_classifier", "softmax(dim=-1)", "softmax(dim=0)", 2,   # forward and classify_padded
        lambda path: check_recurrent("lstm_classifier", path)),
    "stacked_lstm: the head reads the first step instead of the last": (
        "stacked_lstm", "select(ys, 1, -1)", "select(ys, 1, 0)", 1,
        lambda path: check_recurrent("stacked_lstm", path)),
    "vae: KL averaged over the latent dims too": (
        "vae", "kl_normal(mu, logvar, reduction='batchmean')", "kl_normal(mu, logvar, reduction='mean')", 1,
        check_vae),
    "dcgan: ReLU instead of LeakyReLU 0.2 in the discriminator's strided layers": (
        "dcgan", "batchnorm2d(), leaky_relu(0.2)]]", "batchnorm2d(), relu]]", 1, check_dcgan),
    "capsnet: coupling coefficients softmaxed over the children i instead of the parents j": (
        "capsnet", "c = softmax(b, dim=2)", "c = softmax(b, dim=1)", 1, check_capsnet),
    "memn2n: no residual u^k in u^(k+1) = u^k + o^k (adjacent tying)": (
        "memn2n", "u = (u if adjacent else H(u)) + o", "u = o if adjacent else H(u) + o", 1,
        lambda path: check_memn2n("adjacent", path)),
    "ntm: content addressing without the key strength beta": (
        "ntm", "w = softmax(similarity * beta, dim=-1)", "w = softmax(similarity, dim=-1)", 1, check_ntm),
    "seq2seq_attention: attention over the padding too": (
        "seq2seq_attention", "masked_softmax(score(h_t, memory), mask)", "softmax(score(h_t, memory), dim=-1)", 1,
        check_seq2seq),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_mutation_is_caught(mutation, tmp_path):
    name, old, new, count, check = MUTATIONS[mutation]
    text = open(spec_path(name)).read()
    assert text.count(old) == count, f"the spec changed: update the mutation {mutation!r}"
    mutated = tmp_path / f"{name}.yaml"
    mutated.write_text(text.replace(old, new))
    with pytest.raises(AssertionError, match="not close|not equal|mismatch") as failure:   # assert_close's words
        check(str(mutated))
    print(mutation, "->", str(failure.value).splitlines()[0])
